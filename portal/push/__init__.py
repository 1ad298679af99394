"""APNs push for the portal: the imported push certificate, the push outbox and its worker."""
