"""Checks one crate's rendered API docs (target/doc/<crate>) for what rustdoc does not warn about.

- Dead links. Rustdoc renders a link whose target it has no URL for (a dependency's item, in a
  `--no-deps` build without `-Zrustdoc-map`) as bare text in brackets, `[tokio::time::sleep]`,
  and a link it could not resolve inside a macro's input (`pin_project!`) as an `href` that is
  the Rust path itself. Neither warns.
- Pages without an example. Every module, type, trait and function page carries an example
  (which the doctests run); constants are exempt.
"""
import glob, os, re, sys

root = sys.argv[1]
bad = []
pages = 0
for path in sorted(glob.glob(os.path.join(root, "**", "*.html"), recursive=True)):
    rel = os.path.relpath(path, root)
    if rel.startswith("src" + os.sep) or rel == "all.html":
        continue
    page = open(path, encoding="utf-8").read()
    if 'http-equiv="refresh"' in page:  # a redirect from a private module's path
        continue
    pages += 1
    for href in re.findall(r'href="([^"]*)"', page):
        if "::" in href:
            bad.append(f"{rel}: a link to an unresolved path: {href}")
    text = re.sub(r"<!--.*?-->", "", page, flags=re.S)
    text = re.sub(r"<(pre|script|style|h[1-6])\b.*?</\1>", "", text, flags=re.S)
    text = re.sub(r"<code>.*?</code>", "<code>CODE</code>", text, flags=re.S)
    text = re.sub(r"<(?!/?code>)[^>]*>", "", text)
    for m in re.finditer(r"\[(<code>CODE</code>|[A-Za-z_][\w:]*::[\w:]*)\](?!\()", text):
        bad.append(f"{rel}: a link rendered as text: {m.group(0)}")
    name = os.path.basename(rel)
    if name == "index.html" or re.match(r"(struct|enum|trait|fn|type|union|macro)\.", name):
        start = page.find('<details class="toggle top-doc"')
        top = page[start : page.find("</details>", start)] if start >= 0 else ""
        if "example-wrap" not in top:
            bad.append(f"{rel}: no example")
for b in bad:
    print(b)
print(f"docs: {pages} pages checked, {len(bad)} problems")
sys.exit(1 if bad else 0)
