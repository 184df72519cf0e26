"""Fails on intra-doc links that rustdoc left unresolved without a warning.

Rustdoc renders a link whose target has no URL as plain text in brackets (`[tokio::time::sleep]`),
and a link it could not resolve inside a macro's input (`pin_project!`) as an `href` that is a
Rust path; neither warns. Reads the HTML of one crate's docs."""
import glob, os, re, sys

root = sys.argv[1]
bad = []
pages = 0
for path in sorted(glob.glob(os.path.join(root, "**", "*.html"), recursive=True)):
    rel = os.path.relpath(path, root)
    if rel.startswith("src" + os.sep):
        continue
    pages += 1
    page = open(path, encoding="utf-8").read()
    for href in re.findall(r'href="([^"]*)"', page):
        if "::" in href:
            bad.append(f"{rel}: a link to an unresolved path: {href}")
    text = re.sub(r"<!--.*?-->", "", page, flags=re.S)
    text = re.sub(r"<(pre|script|style|h[1-6])\b.*?</\1>", "", text, flags=re.S)
    text = re.sub(r"<code>.*?</code>", "<code>CODE</code>", text, flags=re.S)
    text = re.sub(r"<(?!/?code>)[^>]*>", "", text)
    for m in re.finditer(r"\[(<code>CODE</code>|[A-Za-z_][\w:]*::[\w:]*)\](?!\()", text):
        snippet = page[page.find(m.group(0)) :][:80] if "CODE" not in m.group(0) else ""
        bad.append(f"{rel}: a link rendered as text: {m.group(0)} {snippet}")
for b in bad:
    print(b)
print(f"doc links: {pages} pages checked, {len(bad)} unresolved")
sys.exit(1 if bad else 0)
