"""A simulated upstream proxy provider on loopback: the API the shop's `socks-api` adapter
speaks (see `shop/providers/socks_api.py` for the routes), served by aiohttp.

Products have a country, country code, city, ISP, speed, mobile/hosting flags and an online
status that changes over time (`churn_seconds`). Listing pages; buying returns credentials and
debits the shop's balance here. A sold product is a real SOCKS5 proxy with its login, served
by the simulated farm on its own 127.73.x.y address while it is online, and not listening
while it is offline, so a check through it sees what a buyer would.

Control routes (tests, demos) under `/_sim/`:
    POST /_sim/products/{proxy_id}/status   {"status": 0|1}
    POST /_sim/fail-next-purchase           {"kind": "server_error"|"timeout"|
                                             "insufficient_balance"|"sold"} (default 5xx)
    POST /_sim/fail-next                    {"kind": "server_error"|"timeout"|"rate_limit",
                                             "count": 1}: the next API requests of any route
    POST /_sim/rate-limit                   {"per_second": N or null}
    POST /_sim/balance                      {"balance": "10.00"}
    POST /_sim/products                     {"count": N}: N more products
    DELETE /_sim/products/{product_id}      the product vanishes
    POST /_sim/churn                        {"fraction": 0.2}: flip that share of statuses now
    GET  /_sim/state                        products, online, sold, balance, requests

`proxyfleet sim upstream --port P [--products N]` runs it. Imports `core`, `sim.farm` and
aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any

from aiohttp import web

from proxyfleet.core.proxies import ProxyAddress, ProxyProtocol
from proxyfleet.sim.farm import Behaviour, Farm, FarmProxy, FarmSpec
from proxyfleet.sim.web import HOST, json_body, serve_app

API_PREFIX = "/api/v1/authorized"
DEFAULT_TOKEN = "sim-upstream-token"
SALE_DAYS = 30

_PLACES = [
    ("United States", "US", ["New York", "Dallas", "Miami", "Chicago"]),
    ("United Kingdom", "GB", ["London", "Manchester"]),
    ("Germany", "DE", ["Berlin", "Frankfurt", "Munich"]),
    ("France", "FR", ["Paris", "Lyon"]),
    ("Netherlands", "NL", ["Amsterdam"]),
    ("Japan", "JP", ["Tokyo", "Osaka"]),
    ("Brazil", "BR", ["Sao Paulo"]),
    ("Canada", "CA", ["Toronto", "Montreal"]),
]
_ISPS = ["AT&T", "Comcast", "Verizon", "Deutsche Telekom", "Orange", "BT", "NTT", "Vivo",
         "Rogers", "KPN", "Hetzner", "OVH"]


@dataclass(slots=True)
class SimProduct:
    product_id: int
    proxy_id: int
    ip: str
    country: str
    country_code: str
    city: str
    isp: str
    speed: int
    mobile: bool
    hosting: bool
    status: int
    sold: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "proxy_id": self.proxy_id, "ip": self.ip,
                "country": self.country, "country_code": self.country_code,
                "city": self.city, "ISP": self.isp, "speed": str(self.speed),
                "mobile": self.mobile, "hosting": self.hosting, "status": self.status}


@dataclass(slots=True)
class SimSale:
    credentials_id: int
    product: SimProduct
    proxy: FarmProxy
    expires_at: datetime
    server: asyncio.Server | None = None

    def as_json(self) -> dict[str, Any]:
        address = self.proxy.address
        return {"credentials_id": self.credentials_id, "proxy_id": self.product.proxy_id,
                "ip": address.host, "port": address.port, "login": address.username,
                "password": address.password,
                "expires_at": self.expires_at.isoformat().replace("+00:00", "Z")}


def _address(index: int) -> str:
    return f"127.73.{index // 250}.{index % 250 + 1}"


class UpstreamSim:
    """The provider; an async context manager that serves on 127.0.0.1 (`port` 0: any)."""

    def __init__(self, products: int = 50, *, port: int = 0, token: str = DEFAULT_TOKEN,
                 balance_cents: int = 1_000_000, cost_cents: int = 100, seed: int = 2,
                 churn_seconds: float | None = None, timeout_seconds: float = 120.0,
                 online_fraction: float = 0.9) -> None:
        self.token = token
        self.balance_cents = balance_cents
        self.cost_cents = cost_cents
        self.requests = 0
        self._port = port
        self._random = random.Random(seed)
        self._products: dict[int, SimProduct] = {}
        self._by_proxy: dict[int, SimProduct] = {}
        self._sales: dict[int, SimSale] = {}
        self._sale_of_proxy: dict[int, SimSale] = {}
        self._fail_purchase: list[str] = []
        self._sale_ports: dict[int, int] = {}
        self._fail_any: list[str] = []
        self._per_second: float | None = None
        self._window: tuple[int, int] = (0, 0)
        self._churn_seconds = churn_seconds
        self._timeout_seconds = timeout_seconds
        self._online_fraction = online_fraction
        self._farm = Farm(FarmSpec(counts={}))
        self._runner: web.AppRunner | None = None
        self._churn: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.add_products(products)

    # --- the world -------------------------------------------------------------------------

    def add_products(self, count: int) -> list[SimProduct]:
        made = []
        for _ in range(count):
            index = len(self._by_proxy)
            country, code, cities = self._random.choice(_PLACES)
            kind = self._random.random()
            product = SimProduct(
                product_id=1000 + index, proxy_id=5000 + index, ip=_address(index),
                country=country, country_code=code, city=self._random.choice(cities),
                isp=self._random.choice(_ISPS), speed=self._random.randint(20, 900),
                mobile=kind < 0.15, hosting=0.15 <= kind < 0.4,
                status=1 if self._random.random() < self._online_fraction else 0)
            self._products[product.product_id] = product
            self._by_proxy[product.proxy_id] = product
            made.append(product)
        return made

    @property
    def products(self) -> list[SimProduct]:
        return list(self._products.values())

    def product_by_proxy(self, proxy_id: int) -> SimProduct | None:
        return self._by_proxy.get(proxy_id)

    async def set_status(self, proxy_id: int, status: int) -> None:
        product = self._by_proxy[proxy_id]
        product.status = status
        sale = self._sale_of_proxy.get(proxy_id)
        if sale is None:
            return
        if status != 1 and sale.server is not None:
            sale.server.close()
            sale.server = None
        elif status == 1 and sale.server is None:
            sale.server = await self._farm.listen(sale.proxy)

    async def churn(self, fraction: float) -> int:
        """Flip the status of that share of the products (sold ones included)."""
        chosen = [p for p in self._products.values() if self._random.random() < fraction]
        for product in chosen:
            await self.set_status(product.proxy_id, 0 if product.status == 1 else 1)
        return len(chosen)

    # --- serving ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The base URL the shop's adapter is given."""
        return f"http://{HOST}:{self._port}{API_PREFIX}"

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self._port}/_sim"

    async def __aenter__(self) -> UpstreamSim:
        await self._farm.__aenter__()
        self._runner, self._port = await serve_app(self._app(), self._port)
        if self._churn_seconds:
            self._churn = asyncio.create_task(self._churning(self._churn_seconds),
                                              name="sim-upstream-churn")
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._churn is not None:
            self._churn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._churn
        if self._runner is not None:
            await self._runner.cleanup()
        await self._farm.__aexit__(None, None, None)

    async def _churning(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.churn(0.05)

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        api = API_PREFIX
        app.router.add_get(f"{api}/products", self._list)
        app.router.add_get(f"{api}/products/{{product_id}}", self._product)
        app.router.add_post(f"{api}/products/{{product_id}}/purchase", self._purchase)
        app.router.add_get(f"{api}/credentials/{{credentials_id}}", self._credentials)
        app.router.add_get(f"{api}/proxies/{{proxy_id}}/status", self._status)
        app.router.add_get(f"{api}/balance", self._balance)
        app.router.add_get("/health", self._health)
        app.router.add_post("/_sim/products/{proxy_id}/status", self._sim_status)
        app.router.add_post("/_sim/fail-next-purchase", self._sim_fail_purchase)
        app.router.add_post("/_sim/fail-next", self._sim_fail_next)
        app.router.add_post("/_sim/rate-limit", self._sim_rate_limit)
        app.router.add_post("/_sim/balance", self._sim_balance)
        app.router.add_post("/_sim/products", self._sim_add)
        app.router.add_delete("/_sim/products/{product_id}", self._sim_remove)
        app.router.add_post("/_sim/churn", self._sim_churn)
        app.router.add_get("/_sim/state", self._sim_state)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Token, rate limit and injected failures, for the provider's API only."""
        if not request.path.startswith(API_PREFIX):
            response: web.StreamResponse = await handler(request)
            return response
        self.requests += 1
        if request.headers.get("X-API-Key") != self.token:
            return _error(401, "invalid API key")
        if self._over_rate():
            return _error(429, "rate limit exceeded", {"Retry-After": "1"})
        if self._fail_any:
            failed = await self._fail(self._fail_any.pop(0))
            if failed is not None:
                return failed
        response = await handler(request)
        return response

    def _over_rate(self) -> bool:
        if self._per_second is None:
            return False
        second = int(time.monotonic())
        start, count = self._window
        self._window = (second, 1) if start != second else (start, count + 1)
        return self._window[1] > self._per_second

    async def _fail(self, kind: str) -> web.Response | None:
        if kind == "timeout":
            await asyncio.sleep(self._timeout_seconds)
        if kind == "rate_limit":
            return _error(429, "rate limit exceeded", {"Retry-After": "1"})
        if kind == "insufficient_balance":
            return _error(402, "Insufficient balance")
        if kind == "sold":
            return _error(409, "product already sold")
        return _error(503, "upstream temporarily unavailable")

    # --- the provider's API ----------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            page = max(int(query.get("page", "0")), 0)
            size = min(max(int(query.get("page_size", "50")), 1), 1000)
        except ValueError:
            return _error(400, "page and page_size must be integers")
        chosen = [p for p in self._products.values() if not p.sold
                  and ("status" not in query or str(p.status) == query["status"])
                  and ("country_code" not in query
                       or p.country_code == query["country_code"].upper())
                  and ("city" not in query or p.city.lower() == query["city"].lower())]
        window = chosen[page * size:(page + 1) * size]
        return web.json_response({"products": [p.as_json() for p in window],
                                  "total": len(chosen), "page": page, "page_size": size})

    def _find(self, request: web.Request) -> SimProduct | None:
        try:
            return self._products.get(int(request.match_info["product_id"]))
        except ValueError:
            return None

    async def _product(self, request: web.Request) -> web.Response:
        product = self._find(request)
        if product is None:
            return _error(404, "product not found")
        return web.json_response(product.as_json())

    async def _purchase(self, request: web.Request) -> web.Response:
        if self._fail_purchase:
            failed = await self._fail(self._fail_purchase.pop(0))
            if failed is not None:
                return failed
        async with self._lock:
            product = self._find(request)
            if product is None:
                return _error(404, "product not found")
            if product.sold:
                return _error(409, "product already sold")
            if product.status != 1:
                return _error(409, "product is offline")
            if self.balance_cents < self.cost_cents:
                return _error(402, "Insufficient balance")
            self.balance_cents -= self.cost_cents
            product.sold = True
            sale = await self._sell(product)
        return web.json_response(sale.as_json())

    def sell_on(self, proxy_id: int, port: int) -> None:
        """Serve this product, once sold, on `port` of its IP (not one the kernel chooses):
        an endpoint that may already be known elsewhere, as a real provider's can be."""
        self._sale_ports[proxy_id] = port

    async def _sell(self, product: SimProduct) -> SimSale:
        login = f"u{product.product_id}{secrets.token_hex(2)}"
        port = self._sale_ports.pop(product.proxy_id, 0)
        address = ProxyAddress(product.ip, port, ProxyProtocol.SOCKS5, login,
                               secrets.token_urlsafe(9))
        proxy = FarmProxy(index=product.proxy_id, address=address, behaviour=Behaviour.AUTH,
                          egress=HOST)
        sale = SimSale(len(self._sales) + 1, product, proxy,
                       datetime.now(UTC).replace(microsecond=0) + timedelta(days=SALE_DAYS))
        sale.server = await self._farm.listen(proxy)
        self._sales[sale.credentials_id] = sale
        self._sale_of_proxy[product.proxy_id] = sale
        return sale

    async def _credentials(self, request: web.Request) -> web.Response:
        try:
            sale = self._sales.get(int(request.match_info["credentials_id"]))
        except ValueError:
            sale = None
        if sale is None:
            return _error(404, "credentials not found")
        return web.json_response(sale.as_json())

    async def _status(self, request: web.Request) -> web.Response:
        try:
            product = self._by_proxy.get(int(request.match_info["proxy_id"]))
        except ValueError:
            product = None
        if product is None:
            return _error(404, "proxy not found")
        return web.json_response({"proxy_id": product.proxy_id, "status": product.status})

    async def _balance(self, _: web.Request) -> web.Response:
        return web.json_response({"balance": f"{Decimal(self.balance_cents) / 100:.2f}",
                                  "currency": "USD"})

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    # --- controls --------------------------------------------------------------------------

    async def _sim_status(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            proxy_id = int(request.match_info["proxy_id"])
            status = int(body["status"])
        except (KeyError, TypeError, ValueError):
            return _error(400, 'send {"status": 0 or 1}')
        if proxy_id not in self._by_proxy or status not in (0, 1):
            return _error(404 if proxy_id not in self._by_proxy else 400, "no such proxy")
        await self.set_status(proxy_id, status)
        return web.json_response({"proxy_id": proxy_id, "status": status})

    async def _sim_fail_purchase(self, request: web.Request) -> web.Response:
        kind = str((await json_body(request)).get("kind", "server_error"))
        self._fail_purchase.append(kind)
        return web.json_response({"armed": kind})

    async def _sim_fail_next(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        kind = str(body.get("kind", "server_error"))
        self._fail_any += [kind] * int(body.get("count", 1))
        return web.json_response({"armed": kind, "pending": len(self._fail_any)})

    async def _sim_rate_limit(self, request: web.Request) -> web.Response:
        value = (await json_body(request)).get("per_second")
        self._per_second = float(value) if value is not None else None
        return web.json_response({"per_second": self._per_second})

    async def _sim_balance(self, request: web.Request) -> web.Response:
        self.balance_cents = int(Decimal(str((await json_body(request))["balance"])) * 100)
        return await self._balance(request)

    async def _sim_add(self, request: web.Request) -> web.Response:
        made = self.add_products(int((await json_body(request)).get("count", 1)))
        return web.json_response({"added": [p.as_json() for p in made]})

    async def _sim_remove(self, request: web.Request) -> web.Response:
        product = self._find(request)
        if product is None:
            return _error(404, "product not found")
        del self._products[product.product_id]
        return web.json_response({"removed": product.product_id})

    async def _sim_churn(self, request: web.Request) -> web.Response:
        flipped = await self.churn(float((await json_body(request)).get("fraction", 0.2)))
        return web.json_response({"flipped": flipped})

    async def _sim_state(self, _: web.Request) -> web.Response:
        products = self.products
        return web.json_response({
            "products": len(products), "online": sum(p.status == 1 for p in products),
            "sold": len(self._sales), "balance": f"{Decimal(self.balance_cents) / 100:.2f}",
            "requests": self.requests})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)



async def serve(port: int, products: int, token: str, churn_seconds: float | None,
                online_fraction: float = 0.9) -> None:
    """Run until cancelled (the CLI's `proxyfleet sim upstream`)."""
    async with UpstreamSim(products, port=port, token=token, churn_seconds=churn_seconds,
                           online_fraction=online_fraction) as sim:
        print(f"simulated upstream on {sim.url} (token {sim.token}); controls at "
              f"{sim.control_url}", flush=True)
        await asyncio.Event().wait()
