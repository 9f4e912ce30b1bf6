"""LeanDaemon and LeanProxy against each other and against stock Pyro5, every kind of call."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from Pyro5.api import BatchProxy, Daemon, Proxy, behavior, expose, oneway
from Pyro5.callcontext import current_context

from clients.lean_proxy import LeanProxy
from services.wire.lean_daemon import LeanDaemon

pytestmark = pytest.mark.timeout(30)


@behavior(instance_mode="single")
class Echo:
    def __init__(self) -> None:
        self.noted: list[object] = []
        self.noted_event = threading.Event()
        self._value = 1

    @expose
    def echo(self, *args: object, **kwargs: object) -> object:
        return [args, kwargs]

    @expose
    def fail(self, message: str) -> None:
        raise ValueError(message)

    @expose
    def big(self, n: int) -> str:
        return "x" * n

    @expose
    def peer(self) -> object:
        return list(current_context.client_sock_addr)

    @expose
    @oneway
    def note(self, value: object) -> None:
        self.noted.append(value)
        self.noted_event.set()

    @expose  # type: ignore[prop-decorator]
    @property
    def value(self) -> int:
        return self._value

    def hidden(self) -> str:
        return "not exposed"


@pytest.fixture(params=[LeanDaemon, Daemon], ids=["lean-daemon", "pyro5-daemon"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Echo]]:
    obj = Echo()
    daemon = request.param(host="127.0.0.1", port=0)
    uri = str(daemon.register(obj, objectId="echo"))
    thread = threading.Thread(target=daemon.requestLoop, daemon=True)
    thread.start()
    yield uri, obj
    daemon.shutdown()
    thread.join(timeout=5)


@pytest.fixture(params=[LeanProxy, Proxy], ids=["lean-proxy", "pyro5-proxy"])
def proxy(request: pytest.FixtureRequest, served: tuple[str, Echo]) -> Iterator[Proxy]:
    with request.param(served[0]) as p:
        p._pyroTimeout = 10
        yield p


def test_plain_calls(proxy: Proxy) -> None:
    assert proxy.echo("a", 1, None, True) == [("a", 1, None, True), {}]
    assert proxy.echo(x=[1.5, {"k": (2,)}]) == [(), {"x": [1.5, {"k": (2,)}]}]
    assert set(proxy.echo({1, 2})[0][0]) == {1, 2}


def test_remote_errors_keep_type_message_and_traceback(proxy: Proxy) -> None:
    with pytest.raises(ValueError, match="bad hotkey") as info:
        proxy.fail("bad hotkey")
    assert "bad hotkey" in "".join(info.value._pyroTraceback)  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        proxy.hidden()
    assert proxy.echo("still in sync") == [("still in sync",), {}]


def test_large_reply_spans_many_reads(proxy: Proxy) -> None:
    assert len(proxy.big(3_000_000)) == 3_000_000
    assert proxy.echo(2) == [(2,), {}]


def test_oneway_attributes_batches_and_pings(proxy: Proxy, served: tuple[str, Echo]) -> None:
    obj = served[1]
    proxy.note("first")
    assert obj.noted_event.wait(5)
    assert obj.noted == ["first"]
    assert proxy.value == 1
    batch = BatchProxy(proxy)
    batch.echo(1)
    batch.echo(2)
    assert list(batch()) == [[(1,), {}], [(2,), {}]]
    proxy._pyroBind()
    assert proxy.peer()[0] == "127.0.0.1"


def test_other_serializers_take_pyro5s_path(served: tuple[str, Echo]) -> None:
    with LeanProxy(served[0]) as p:
        p._pyroSerializer = "marshal"
        assert p.echo("m") == [("m",), {}]


def test_annotations_travel_both_ways(served: tuple[str, Echo]) -> None:
    with LeanProxy(served[0]) as p:
        current_context.annotations = {"XTRA": b"abc"}
        try:
            assert p.echo("annotated") == [("annotated",), {}]
        finally:
            current_context.annotations = {}


class _TlsSocket:
    """Stands in for an ssl.SSLSocket: it has getpeercert, and takes no recv flags."""

    def getpeercert(self) -> dict[str, str]:
        return {}

    def gettimeout(self) -> float:
        return 5.0

    def recv(self, size: int, flags: int = 0) -> bytes:
        raise AssertionError("the lean path must not read a TLS socket itself")


class _Conn:
    def __init__(self) -> None:
        self.sock = _TlsSocket()
        self.objectId = "echo"


def test_tls_connections_take_pyro5s_own_path(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[object] = []
    monkeypatch.setattr(Daemon, "handleRequest", lambda self, conn: served.append(conn))
    daemon = LeanDaemon(host="127.0.0.1", port=0)
    try:
        conn = _Conn()
        daemon.handleRequest(conn)
        assert served == [conn]
    finally:
        daemon.close()
    invoked: list[str] = []
    monkeypatch.setattr(
        Proxy, "_pyroInvoke", lambda self, name, *args, **kwargs: invoked.append(name)
    )
    proxy = LeanProxy("PYRO:echo@127.0.0.1:1")
    proxy._pyroConnection = _Conn()
    proxy._pyroInvoke("echo", ("x",), None)
    assert invoked == ["echo"]
    proxy._pyroConnection = None
