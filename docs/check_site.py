"""Check a built site the way a reader meets it: served over HTTP, every page and link.

    python docs/check_site.py [build/site]

Serves the folder on 127.0.0.1, follows every internal link and image from the home page, and
fails when a page or file does not answer 200, a page has no ``<title>``, a link points to an
anchor that is not on its page, or a public name of the package (every ``__all__``, and the
public functions of ``hybridnets.kernels``) has no entry in the API reference
(``objects.inv``). Prints what it checked.
"""

from __future__ import annotations

import functools
import html.parser
import importlib
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "build" / "site"
PACKAGES = (
    "align",
    "checkpoint",
    "data",
    "engine",
    "layers",
    "models",
    "multimodal",
    "ops",
    "predict",
    "pretrain",
    "pretrained",
    "train",
)
"""Subpackages of ``hybridnets`` whose ``__all__`` is public API."""
KERNEL_MODULES = ("attention", "window_attention", "interpret")


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(found["id"])
        for key in ("href", "src"):
            if found.get(key) and tag in ("a", "img", "link", "script"):
                self.links.append(found[key])
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False


def public_names() -> list[str]:
    """Every public name: ``hybridnets.__all__``, each subpackage's ``__all__``, kernels."""
    import hybridnets

    names = [f"hybridnets.{n}" for n in hybridnets.__all__ if not n.startswith("_")]
    for package in PACKAGES:
        module = importlib.import_module(f"hybridnets.{package}")
        names += [f"hybridnets.{package}.{n}" for n in module.__all__]
    for kernel in KERNEL_MODULES:
        module = importlib.import_module(f"hybridnets.kernels.{kernel}")
        names += [
            f"hybridnets.kernels.{kernel}.{n}"
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and callable(obj)
            and getattr(obj, "__module__", "") == module.__name__
        ]
    return names


def inventory(site: Path) -> set[str]:
    """The object names in the site's ``objects.inv`` (Sphinx inventory v2)."""
    data = (site / "objects.inv").read_bytes()
    body = data.split(b"\n", 4)[4]
    return {line.split(" ", 1)[0] for line in zlib.decompress(body).decode().splitlines()}


@functools.cache
def _fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), r.headers.get_content_type()
    except urllib.error.HTTPError as err:
        return err.code, b"", ""


def crawl(base: str) -> Iterator[str]:
    """Problems found following every internal link from ``base`` (an ``http://`` URL)."""
    queue, seen, pages = [base], {base}, {}
    while queue:
        url = queue.pop()
        status, body, kind = _fetch(url)
        if status != 200:
            yield f"{url}: HTTP {status}"
            continue
        if kind != "text/html":
            continue
        page = _Page()
        page.feed(body.decode("utf-8"))
        pages[url] = page
        if not page.title.strip():
            yield f"{url}: no <title>"
        for link in page.links:
            target = urllib.parse.urljoin(url, link)
            if not target.startswith(base):
                continue  # an external link: not followed offline
            clean = target.split("#", 1)[0]
            if clean not in seen:
                seen.add(clean)
                queue.append(clean)
    for url, page in pages.items():
        for link in page.links:
            target = urllib.parse.urljoin(url, link)
            if target.startswith(base) and "#" in target:
                where, anchor = target.split("#", 1)
                if where in pages and anchor and anchor not in pages[where].ids:
                    yield f"{url}: link to missing anchor {link}"
    print(f"checked {len(pages)} pages and {len(seen)} internal URLs")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(site: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``site`` on a free port of 127.0.0.1 in a thread; the server and its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/"


def check(site: Path) -> list[str]:
    """Every problem with the built ``site`` (empty: none)."""
    if not (site / "index.html").is_file():
        return [f"{site} holds no built site: run `make docs`"]
    server, base = serve(site)
    try:
        problems = list(crawl(base))
    finally:
        server.shutdown()
    listed = inventory(site)
    names = public_names()
    problems += [f"{n}: public but not in the API reference" for n in names if n not in listed]
    print(f"{len(names)} public names, all in the API reference" if not problems else "")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    problems = check(Path(args[0]) if args else SITE)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
