"""End to end: generated HTML documents opened in headless Chromium and read as laid out.

Chromium is driven over the DevTools protocol on `--remote-debugging-pipe` (JSON messages ending
in NUL on file descriptors 3 and 4), with the standard library only. Network requests are caught
two ways: every `Network.requestWillBeSent` of the page, and a local proxy that each page's
browser context must use (Chromium's own background traffic goes to a separate sink proxy, so it
cannot be mistaken for the page's). Content-Security-Policy is bypassed while testing, so the
markup itself must request nothing; a canary page proves that both detectors do fire.

Needs the Debian package `chromium`. Without it the tests are skipped, except under CI (the CI
environment variable set), where they fail. Set DQMC_DOCS_SCREENSHOT_DIR to keep the screenshots
and printed PDFs for a look.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from docs_samples import all_rules_compiled, anzupgo_compiled

from dqmc import __version__
from dqmc.codegen import docs_view
from dqmc.codegen.docs_emit import (
    DOCS_CONFIG_FILE,
    drug_search_script,
    emit_docs,
    load_docs_config,
)
from dqmc.lang.ir import nodes
from dqmc.lang.ir.canonical import decimal_text

GENERATED_DOCS = REPO / "generated" / "docs"
# axe-core, vendored (tests/vendor/axe-core/README.md), and the digest its package publishes.
AXE = REPO / "tests" / "vendor" / "axe-core" / "axe.min.js"
AXE_SRI = "sha256-KTSJmUUM3yhJqOcLeRL8LahahJ2jnA0NU5T1HUqe2Vw="
AXE_RUN = """
axe.run(document, {resultTypes: ["violations"]}).then((result) => result.violations.map((v) => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.slice(0, 5).map((node) => node.target.join(" ")),
})))
"""
BLOCKING_IMPACTS = ("serious", "critical")
VIEWPORT = (1280, 1000)
COMMAND_TIMEOUT = 30.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
    f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
)

# Reads the quantity table cell by cell with each cell's box as laid out, plus what else the
# tests compare: approval sentences, the CSP meta element and the links.
READ_PAGE_SCRIPT = """
(() => {
  const box = (element) => {
    const r = element.getBoundingClientRect();
    return {x: r.left, y: r.top, width: r.width, height: r.height};
  };
  const table = document.getElementById("quantity-limits");
  const csp = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
  return {
    viewportWidth: document.documentElement.clientWidth,
    scrollWidth: document.documentElement.scrollWidth,
    table: table ? box(table) : null,
    cells: table ? [...table.querySelectorAll("th, td")].map((cell) => ({
      tag: cell.tagName.toLowerCase(), text: cell.innerText, ...box(cell),
    })) : [],
    approvals: [...document.querySelectorAll(".approval")].map((element) => element.innerText),
    csp: csp ? csp.getAttribute("content") : null,
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
  };
})()
"""


# The index's drug lookup as a reader sees it: whether the search box shows, and each row that
# is laid out (a hidden row has no box).
READ_LOOKUP_SCRIPT = """
(() => {
  const form = document.getElementById("drug-search-form");
  const rows = [...document.querySelectorAll("#drug-lookup tbody tr")];
  return {
    formShown: Boolean(form) && form.getClientRects().length > 0,
    rows: rows.length,
    visible: rows.filter((row) => row.getClientRects().length > 0).map((row) => ({
      brand: row.querySelector("th").innerText.trim(),
      generic: row.cells[1].innerText.trim(),
      href: row.querySelector("a[href]").href,
    })),
    status: document.getElementById("drug-count").innerText.trim(),
  };
})()
"""


# ---------------------------------------------------------------------------------------------
# A recording proxy and a DevTools client over a pipe


class RecordingProxy:
    """A local listener posing as an HTTP proxy: records each connection's first line, drops it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)  # so the accept loop notices close() promptly
        self.address = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.connections: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    first_line = connection.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first_line = "<no request line>"
                with self._lock:
                    self.connections.append(first_line)

    def taken(self) -> list[str]:
        """The connections recorded since the last call."""
        with self._lock:
            taken, self.connections = self.connections, []
        return taken

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()


class DevToolsPipe:
    """Chromium with --remote-debugging-pipe: commands to its fd 3, replies from its fd 4."""

    def __init__(self, executable: str, profile_dir: Path, log_path: Path, proxy: str) -> None:
        command_read, self._command_write = os.pipe()
        self._reply_read, reply_write = os.pipe()
        # Keep the child's ends above 4, so the dup2 below cannot overwrite one with the other.
        child_command = fcntl.fcntl(command_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_reply = fcntl.fcntl(reply_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(command_read)
        os.close(reply_write)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        argv = [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile_dir}",
            "--remote-debugging-pipe",
            f"--proxy-server={proxy}",
            "--proxy-bypass-list=<-loopback>",
            "about:blank",
        ]
        try:
            self.pid = os.posix_spawn(
                executable,
                argv,
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, log, 1),
                    (os.POSIX_SPAWN_DUP2, log, 2),
                    (os.POSIX_SPAWN_DUP2, child_command, 3),
                    (os.POSIX_SPAWN_DUP2, child_reply, 4),
                ],
                setpgroup=0,  # its own process group, so cleanup reaches its helpers and only them
            )
        finally:
            for descriptor in (child_command, child_reply, log, devnull):
                os.close(descriptor)
        self.log_path = log_path
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self._next_id = 0

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no DevTools message in time; log: {self._log_tail()}")
            ready, _, _ = select.select([self._reply_read], [], [], remaining)
            if ready:
                chunk = os.read(self._reply_read, 1 << 20)
                if not chunk:
                    raise RuntimeError(
                        f"chromium closed the DevTools pipe; log: {self._log_tail()}"
                    )
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._command_write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for_event(self, method: str, session: str, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        seen = 0
        while True:
            for event in self.events[seen:]:
                params = event.get("params", {})
                if (
                    event.get("method") == method
                    and event.get("sessionId") == session
                    and all(params.get(key) == value for key, value in match.items())
                ):
                    return event
            seen = len(self.events)
            self.events.append(self._read_message(deadline))

    def session_events(self, session: str, method: str) -> list[dict[str, Any]]:
        return [
            e["params"]
            for e in self.events
            if e.get("sessionId") == session and e.get("method") == method
        ]

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "<no log>"

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG) != (0, 0):
                break
            time.sleep(0.05)
        else:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self._command_write)
        os.close(self._reply_read)


# ---------------------------------------------------------------------------------------------
# Opening a page


@dataclasses.dataclass(frozen=True)
class PageVisit:
    """What the browser saw of one page: its layout, its requests, and pictures of it."""

    url: str
    layout: dict[str, Any]
    requested_urls: list[str]
    proxy_connections: list[str]
    exceptions: list[str]
    screenshot: Path
    pdf: bytes


@contextlib.contextmanager
def opened(
    browser: DevToolsPipe, page_proxy: RecordingProxy, page: Path, *, bypass_csp: bool = True,
    javascript: bool = True,
) -> Iterator[str]:
    """`page` loaded in a fresh browser context behind `page_proxy`: its DevTools session.

    `bypass_csp` lets the network detectors see whatever the markup asks for; without it the
    page runs under its own Content-Security-Policy, as a reader's browser runs it.
    `javascript` False opens it as a browser with scripts turned off does.
    """
    context, target = new_tab(browser, page_proxy)
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    try:
        for domain in ("Page.enable", "Network.enable", "Runtime.enable"):
            browser.send(domain, session=session)
        browser.send("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
        browser.send("Page.setBypassCSP", {"enabled": bypass_csp}, session=session)
        browser.send("Emulation.setScriptExecutionDisabled", {"value": not javascript},
                     session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        url = page.resolve().as_uri()
        # Lifecycle events of this navigation only (enabling them replays about:blank's).
        loader = browser.send("Page.navigate", {"url": url}, session=session)["loaderId"]
        browser.wait_for_event("Page.lifecycleEvent", session, loaderId=loader, name="load")
        browser.wait_for_event("Page.lifecycleEvent", session, loaderId=loader, name="networkIdle")
        yield session
    finally:
        close_tab(browser, context, target)


def browser_own_connections(browser: DevToolsPipe, page_proxy: RecordingProxy) -> frozenset[str]:
    """What Chromium itself sends through a new context's proxy with no page in it.

    Chromium 150 opens `CONNECT www.google.com:443` for every new browser context, before any
    navigation and whatever the flags; that is the browser's doing, not a page's, so the
    detector does not hold it against one. A page's own requests are still seen one by one by
    `Network.requestWillBeSent`.
    """
    context, target = new_tab(browser, page_proxy)
    time.sleep(1.0)  # its connections are made asynchronously, within a few milliseconds
    close_tab(browser, context, target)
    return frozenset(page_proxy.taken())


def new_tab(browser: DevToolsPipe, page_proxy: RecordingProxy) -> tuple[str, str]:
    """A fresh browser context behind `page_proxy` with one blank tab: (context, target)."""
    context = browser.send(
        "Target.createBrowserContext",
        {"proxyServer": page_proxy.address, "proxyBypassList": "<-loopback>"},
    )["browserContextId"]
    target = browser.send(
        "Target.createTarget", {"url": "about:blank", "browserContextId": context}
    )["targetId"]
    return context, target


def close_tab(browser: DevToolsPipe, context: str, target: str) -> None:
    browser.send("Target.closeTarget", {"targetId": target})
    browser.send("Target.disposeBrowserContext", {"browserContextId": context})


def evaluate(browser: DevToolsPipe, session: str, expression: str, *,
             awaited: bool = False) -> Any:
    """The value of a JavaScript expression in the page (a promise's, with `awaited`)."""
    reply = browser.send(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": awaited},
        session=session,
    )
    if "exceptionDetails" in reply:
        raise AssertionError(f"the page threw: {reply['exceptionDetails']}")
    return reply["result"].get("value")


def visit(
    browser: DevToolsPipe, page_proxy: RecordingProxy, page: Path, screenshot: Path
) -> PageVisit:
    """Open `page` in a fresh browser context behind `page_proxy`, read it, picture it, close it."""
    with opened(browser, page_proxy, page) as session:
        layout = evaluate(browser, session, READ_PAGE_SCRIPT)
        shot = browser.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=session,
        )
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        pdf = browser.send(
            "Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True}, session=session
        )
        return PageVisit(
            url=page.resolve().as_uri(),
            layout=layout,
            requested_urls=[
                e["request"]["url"]
                for e in browser.session_events(session, "Network.requestWillBeSent")
            ],
            proxy_connections=page_proxy.taken(),
            exceptions=[
                e["exceptionDetails"].get("text", "")
                for e in browser.session_events(session, "Runtime.exceptionThrown")
            ],
            screenshot=screenshot,
            pdf=base64.b64decode(pdf["data"]),
        )


def chromium_executable() -> str:
    executable = shutil.which("chromium")
    if executable is not None:
        return executable
    if os.environ.get("CI"):
        pytest.fail("chromium is required under CI: apt-get install -y chromium")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


@dataclasses.dataclass(frozen=True)
class Session:
    docs_dir: Path
    documents: dict[str, str]
    visits: dict[str, PageVisit]
    canary: PageVisit
    browser: DevToolsPipe
    page_proxy: RecordingProxy
    root: Path
    browser_own: frozenset[str]  # what the browser connects to with no page loaded


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    executable = chromium_executable()
    root = tmp_path_factory.mktemp("docs-browser")
    docs_dir = root / "docs"
    docs_dir.mkdir()
    config = load_docs_config(REPO / DOCS_CONFIG_FILE)
    documents = emit_docs([anzupgo_compiled(), all_rules_compiled()], config, version=__version__)
    for relative, text in documents.items():
        (docs_dir / relative).write_text(text, encoding="utf-8")
    canary = root / "canary.html"
    canary.write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>canary</title>'
        '<link rel="stylesheet" href="https://docs-canary.invalid/style.css"></head>'
        '<body><img alt="" src="http://docs-canary.invalid/pixel.png"></body></html>',
        encoding="utf-8",
    )
    background_sink, page_proxy = RecordingProxy(), RecordingProxy()
    profile = root / "profile"
    profile.mkdir()
    browser = DevToolsPipe(executable, profile, root / "chromium.log", background_sink.address)
    try:
        browser_own = browser_own_connections(browser, page_proxy)
        shots = root / "screenshots"
        shots.mkdir()
        visits = {
            name: visit(browser, page_proxy, docs_dir / name, shots / f"{Path(name).stem}.png")
            for name in sorted(documents)
            if name.endswith(".html")
        }
        canary_visit = visit(browser, page_proxy, canary, shots / "canary.png")
        yield Session(docs_dir, documents, visits, canary_visit, browser, page_proxy, root,
                      browser_own)
    finally:
        browser.close()
        background_sink.close()
        page_proxy.close()


# ---------------------------------------------------------------------------------------------
# The tests


def laid_out_grid(layout: dict[str, Any]) -> list[list[str]]:
    """The quantity table's cell texts, rows by their top edge and cells by their left edge."""
    rows: dict[int, list[tuple[float, str]]] = {}
    for cell in layout["cells"]:
        assert cell["width"] > 0 and cell["height"] > 0, f"cell not laid out: {cell}"
        rows.setdefault(round(cell["y"]), []).append((cell["x"], cell["text"].strip()))
    return [[text for _, text in sorted(cells)] for _, cells in sorted(rows.items())]


def test_anzupgo_table_as_laid_out_matches_the_ir(session: Session) -> None:
    policy = anzupgo_compiled().policy
    grid = laid_out_grid(session.visits[f"{policy.id}.html"].layout)
    header, product_row = grid
    assert product_row[0].startswith(policy.products[0].brand)
    labels = {channel.id: channel.label for channel in policy.channels}
    for limit in policy.limits:
        assert isinstance(limit.rule, nodes.PerWindow) and limit.channel is not None
        column = header.index(
            f"{labels[limit.channel]} Maximum Quantity per {limit.rule.days} Days"
        )
        assert product_row[column] == f"{decimal_text(limit.rule.quantity.amount)} grams"
    assert product_row[1:] == ["30 grams", "90 grams"]
    approvals = session.visits[f"{policy.id}.html"].layout["approvals"]
    assert len(approvals) == 1
    assert (
        "60 grams per 30 days at retail and 180 grams per 90 days at home delivery" in approvals[0]
    )


def test_every_limits_table_as_laid_out_matches_its_view(session: Session) -> None:
    for item in (anzupgo_compiled(), all_rules_compiled()):
        table = docs_view.limits_table(item.policy)
        assert table is not None
        expected = [["Product", *(column.header for column in table.columns)]]
        expected += [
            [
                "\n".join([row.product, *([row.band] if row.band else []), *row.members]),
                *("\n".join(cell) if cell else docs_view.EMPTY_CELL for cell in row.cells),
            ]
            for row in table.rows
        ]
        layout = session.visits[f"{item.policy.id}.html"].layout
        assert laid_out_grid(layout) == expected
        assert layout["scrollWidth"] <= layout["viewportWidth"], "the page scrolls sideways"
        assert layout["table"]["x"] + layout["table"]["width"] <= layout["viewportWidth"]


def test_no_page_makes_a_network_request(session: Session) -> None:
    assert set(session.visits) == {"anzupgo-dqm.html", "index.html", "sample-all-rules.html"}
    for name, page in session.visits.items():
        assert page.requested_urls == [page.url], name  # the document itself, from the file system
        assert [c for c in page.proxy_connections if c not in session.browser_own] == [], name
        assert page.exceptions == [], name
        # The index runs its one inline script, allowed by hash; no page may load one.
        script = f"; script-src '{drug_search_script()[1]}'" if name == "index.html" else ""
        assert page.layout["csp"] == f"default-src 'none'; style-src 'unsafe-inline'{script}"


def test_the_detectors_catch_a_page_that_does_load_remote_resources(session: Session) -> None:
    remote = [url for url in session.canary.requested_urls if url != session.canary.url]
    assert sorted(remote) == [
        "http://docs-canary.invalid/pixel.png",
        "https://docs-canary.invalid/style.css",
    ]
    assert any("docs-canary.invalid" in line for line in session.canary.proxy_connections)
    assert not any("docs-canary.invalid" in line for line in session.browser_own)


def test_index_links_open_the_generated_documents(session: Session) -> None:
    links = session.visits["index.html"].layout["links"]
    assert links, "the index links to the policies"
    for link in links:
        assert link.startswith("file://")
        path, _, fragment = link.removeprefix("file://").partition("#")
        assert Path(path).is_file(), link
        assert not fragment or f' id="{fragment}"' in Path(path).read_text(encoding="utf-8")
    expected = {
        (session.docs_dir / name).resolve().as_uri()
        for name in session.documents
        if name not in ("index.html", "drugs.json")
    }
    assert {link.partition("#")[0] for link in links} == expected


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshots_are_non_empty_pngs(session: Session) -> None:
    for name, page in session.visits.items():
        data = page.screenshot.read_bytes()
        width, height = png_size(data)
        assert width == VIEWPORT[0], name
        assert height > 0 and len(data) > 10_000, name
        keep = os.environ.get("DQMC_DOCS_SCREENSHOT_DIR")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(page.screenshot, Path(keep) / page.screenshot.name)
            (Path(keep) / f"{page.screenshot.stem}.pdf").write_bytes(page.pdf)


def test_pages_print_to_pdf(session: Session) -> None:
    for name, page in session.visits.items():
        assert page.pdf.startswith(b"%PDF-"), name
        assert b"/Type /Page" in page.pdf or b"/Type/Page" in page.pdf, name


def test_missing_chromium_skips_locally_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        chromium_executable()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is required under CI"):
        chromium_executable()


# ---------------------------------------------------------------------------------------------
# The drug lookup, print and accessibility


def type_into(browser: DevToolsPipe, tab: str, element_id: str, text: str) -> None:
    """Focus an input and type `text` into it a character at a time, as a keyboard does."""
    evaluate(browser, tab, f"document.getElementById({json.dumps(element_id)}).focus()")
    for char in text:
        browser.send("Input.insertText", {"text": char}, session=tab)


def clear_input(browser: DevToolsPipe, tab: str, element_id: str) -> None:
    evaluate(browser, tab, f"""(() => {{
      const box = document.getElementById({json.dumps(element_id)});
      box.value = "";
      box.dispatchEvent(new Event("input"));
    }})()""")


def test_typing_ambien_leaves_only_ambien_rows_each_linking_to_its_policy(
        session: Session) -> None:
    drugs = json.loads((GENERATED_DOCS / "drugs.json").read_text(encoding="utf-8"))["drugs"]
    ambien = [drug for drug in drugs if drug["brand"].casefold() == "ambien"]
    assert ambien and len(ambien) < len(drugs)
    index = GENERATED_DOCS / "index.html"
    # Under the page's own Content-Security-Policy: the search only works if its hash is right.
    with opened(session.browser, session.page_proxy, index, bypass_csp=False) as tab:
        before = evaluate(session.browser, tab, READ_LOOKUP_SCRIPT)
        assert before["formShown"], "the script ran and showed the search box"
        assert len(before["visible"]) == before["rows"] == len(drugs)
        type_into(session.browser, tab, "drug-search", "ambien")
        after = evaluate(session.browser, tab, READ_LOOKUP_SCRIPT)
        assert [row["brand"] for row in after["visible"]] == ["Ambien"] * len(ambien)
        assert after["status"] == f"{len(ambien)} of {len(drugs)} products match"
        for row, drug in zip(after["visible"], ambien, strict=True):
            path, _, fragment = drug["document"].partition("#")
            assert row["href"] == f"{(GENERATED_DOCS / path).resolve().as_uri()}#{fragment}"
            assert f'<tr id="{fragment}"' in (GENERATED_DOCS / path).read_text(encoding="utf-8")
        # Case and accents do not matter, and a generic name finds its brands.
        clear_input(session.browser, tab, "drug-search")
        type_into(session.browser, tab, "drug-search", "ZOLPIDÉM")
        generic = evaluate(session.browser, tab, READ_LOOKUP_SCRIPT)
        zolpidem = [drug for drug in drugs if drug["generic"].casefold() == "zolpidem"]
        assert [row["generic"] for row in generic["visible"]] == ["zolpidem"] * len(zolpidem)
        assert len(zolpidem) >= len(ambien)
        clear_input(session.browser, tab, "drug-search")
        cleared = evaluate(session.browser, tab, READ_LOOKUP_SCRIPT)
        assert len(cleared["visible"]) == len(drugs)
        thrown = session.browser.session_events(tab, "Runtime.exceptionThrown")
        assert thrown == []


def test_with_javascript_off_the_lookup_table_is_all_there(session: Session) -> None:
    drugs = json.loads((GENERATED_DOCS / "drugs.json").read_text(encoding="utf-8"))["drugs"]
    index = GENERATED_DOCS / "index.html"
    with opened(session.browser, session.page_proxy, index, javascript=False) as tab:
        page = evaluate(session.browser, tab, READ_LOOKUP_SCRIPT)
    assert not page["formShown"], "a search box that cannot search stays hidden"
    assert len(page["visible"]) == page["rows"] == len(drugs)
    assert [row["brand"] for row in page["visible"]] == [drug["brand"] for drug in drugs]
    assert page["status"] == f"{len(drugs)} products"


def test_printing_keeps_rows_whole_and_shows_where_links_go(session: Session) -> None:
    page = session.docs_dir / "index.html"
    with opened(session.browser, session.page_proxy, page) as tab:
        session.browser.send("Emulation.setEmulatedMedia", {"media": "print"}, session=tab)
        printed = evaluate(session.browser, tab, """(() => {
          const link = document.querySelector("#drug-lookup a[href]");
          return {
            after: getComputedStyle(link, "::after").content,
            href: link.getAttribute("href"),
            rowBreak: getComputedStyle(document.querySelector("#drug-lookup tbody tr")).breakInside,
            search: getComputedStyle(document.getElementById("drug-search-form")).display,
          };
        })()""")
    assert printed["after"] == f'" <{printed["href"]}>"'
    assert printed["rowBreak"] == "avoid"
    assert printed["search"] == "none"


def axe_violations(session: Session, page: Path, axe_source: str) -> list[dict[str, Any]]:
    with opened(session.browser, session.page_proxy, page) as tab:
        evaluate(session.browser, tab, axe_source)
        return evaluate(session.browser, tab, AXE_RUN, awaited=True)  # type: ignore[no-any-return]


def vendored_axe() -> str:
    data = AXE.read_bytes()
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    assert f"sha256-{digest}" == AXE_SRI, "tests/vendor/axe-core/axe.min.js is not axe-core's"
    return data.decode("utf-8")


def test_axe_finds_no_serious_or_critical_violation_on_any_document(session: Session) -> None:
    axe_source = vendored_axe()
    pages = sorted(GENERATED_DOCS.glob("*.html")) + sorted(
        session.docs_dir / name for name in session.visits)
    assert GENERATED_DOCS / "index.html" in pages and len(pages) > 3
    found = {}
    for page in pages:
        blocking = [v for v in axe_violations(session, page, axe_source)
                    if v["impact"] in BLOCKING_IMPACTS]
        if blocking:
            found[page.name] = blocking
    assert found == {}


def test_the_axe_check_does_catch_violations(session: Session) -> None:
    canary = session.root / "axe-canary.html"
    canary.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head>'
                      '<body><button></button><input type="text"></body></html>',
                      encoding="utf-8")
    ids = {(v["id"], v["impact"]) for v in axe_violations(session, canary, vendored_axe())}
    assert {("html-has-lang", "serious"), ("button-name", "critical"),
            ("label", "critical")} <= ids
