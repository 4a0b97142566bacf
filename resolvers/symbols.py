"""Reference data: tickers by name, or a page of a search."""

from __future__ import annotations

from domain.records import SymbolInfo
from domain.tickers import market_of
from resolvers import validation
from resolvers.context import RequestContext
from storage.symbols import search_symbols


async def symbol(context: RequestContext, ticker: str) -> SymbolInfo | None:
    """Reference data of a ticker the store knows (has reference data or bars for)."""
    validation.ticker(ticker)
    return await context.loaders.symbol.load(ticker)


async def listed(
    context: RequestContext, tickers: list[str], *, reference: bool = True
) -> list[SymbolInfo]:
    """Each listed ticker in the order given, known or not (one statement for all).

    With `reference=False` (the caller reads nothing but the tickers) no statement at all:
    the reference data of each is left as for an unknown ticker.
    """
    unique = validation.tickers(tickers)
    if not reference:
        return [SymbolInfo(t, None, market_of(t), None, None, True) for t in unique]
    known = await context.loaders.symbol.load_many(unique)
    return [
        info or SymbolInfo(t, None, market_of(t), None, None, True)
        for t, info in zip(unique, known, strict=True)
    ]


async def search(
    context: RequestContext,
    text: str | None,
    market: str | None,
    first: int,
    after: str | None,
) -> list[SymbolInfo]:
    """A page of stored reference data matching `text` (ticker prefix or name) and `market`."""
    validation.page_size(first)
    validation.search_text(text)
    if after is not None:
        validation.ticker(after)
    return await context.reads.read(lambda pool: search_symbols(pool, text, market, first, after))
