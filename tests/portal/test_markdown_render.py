"""Admin Markdown renders inert."""
from portal.markdown import render_markdown


def test_raw_html_is_escaped():
    assert render_markdown("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


def test_only_safe_links_become_links():
    html = render_markdown("[a](javascript:alert(1)) [b](https://ok.example) [c](/enroll) [d](//evil.example) "
                           "[e](data:text/html,x) [f](mailto:it@example.org)")
    assert 'href="https://ok.example"' in html and 'href="/enroll"' in html and 'href="mailto:it@example.org"' in html
    assert "javascript:" not in html.replace("[a](javascript:", "") and 'href="//' not in html and 'href="data:' not in html


def test_images_are_not_loaded_from_elsewhere():
    assert "<img" not in render_markdown("![x](https://tracker.example/pixel.png)")
