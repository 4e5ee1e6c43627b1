import pytest

from proxyfleet.wire.credentials import Credentials
from proxyfleet.wire.handshake import NEED_DATA, Established
from proxyfleet.wire.http_connect import ConnectRefused, HttpConnectClient, connect_request
from proxyfleet.wire.http_head import HttpError
from proxyfleet.wire.http_proxy import HttpProxyServer, ProxyRequest, RequestKind
from proxyfleet.wire.target import Target


def test_connect_request_bytes() -> None:
    assert connect_request(Target("::1", 443), Credentials("a", "b")) == (
        b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n"
        b"Proxy-Authorization: Basic YTpi\r\n\r\n")


def test_client_is_established_on_2xx_and_keeps_early_bytes() -> None:
    client = HttpConnectClient(Target("a.test", 443))
    assert client.data_to_send().startswith(b"CONNECT a.test:443 HTTP/1.1\r\n")
    assert client.data_to_send() == b""
    client.receive_data(b"HTTP/1.1 200 Connection established\r\n")
    assert client.next_event() is NEED_DATA
    client.receive_data(b"\r\nhello")
    assert client.next_event() == Established(None, b"hello")
    assert client.response is not None
    assert client.response.status == 200


def test_client_skips_interim_responses() -> None:
    client = HttpConnectClient(Target("a.test", 443))
    client.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
    assert isinstance(client.next_event(), Established)


def test_client_raises_with_the_refusal() -> None:
    client = HttpConnectClient(Target("a.test", 443))
    client.receive_data(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b"Proxy-Authenticate: Basic realm=x\r\n\r\n")
    with pytest.raises(ConnectRefused) as caught:
        client.next_event()
    assert caught.value.status == 407
    assert caught.value.response.headers.get("Proxy-Authenticate") == "Basic realm=x"


def test_client_refuses_garbage() -> None:
    client = HttpConnectClient(Target("a.test", 443))
    client.receive_data(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(HttpError):
        client.next_event()


@pytest.mark.parametrize("target", [
    Target("example.com", 443), Target("10.1.2.3", 22), Target("fe80::1", 8443)])
def test_client_request_round_trips_through_the_server(target: Target) -> None:
    server = HttpProxyServer()
    server.receive_data(HttpConnectClient(target, Credentials("u", "p:w")).data_to_send())
    request = server.next_event()
    assert isinstance(request, ProxyRequest)
    assert request.kind is RequestKind.TUNNEL
    assert (request.target, request.credentials) == (target, Credentials("u", "p:w"))
