// An independent OpenID Connect provider for the end-to-end tests (panva/oidc-provider, pinned in package.json).
// Configured from the environment by the pytest fixture `oidc_provider`:
//   PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (JSON array), ACCOUNTS_FILE (JSON: login -> claims).
// devInteractions accepts any login name; it becomes `sub`. Claims come from ACCOUNTS_FILE, read on every
// request so a test can change them; an unknown login gets {email: login, groups: []}.
import fs from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 0);
const issuer = `http://127.0.0.1:${port}`;

function claimsFor(login) {
  const file = process.env.ACCOUNTS_FILE;
  const accounts = file && fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  const entry = Object.hasOwn(accounts, login) ? accounts[login] : { email: login, groups: [] };
  return { ...entry, sub: login };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: JSON.parse(process.env.REDIRECT_URIS || '[]'),
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => claimsFor(id) }),
  cookies: { keys: ['test-idp-cookie-key-not-secret'] },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
