"""The older API's read routes under `/api/v1`: parse, call the service layer, shape the JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from domain.records import StoreFigures
from gateway.responses import OrjsonResponse
from gateway.rest import models
from gateway.rest.access import Reader
from gateway.rest.cached_reads import CachedReadRoute
from gateway.rest.errors import TICKER_SHAPE, documented
from resolvers import figures, history
from resolvers.validation import ASSET_CLASSES, HISTORY_TIMEFRAMES
from storage.quality import PASSING_SCORE

API_VERSION = "1.0.0"
READ_ERRORS = documented(400, 401, 403)
router = APIRouter(
    prefix="/api/v1", tags=["data"], responses=READ_ERRORS, route_class=CachedReadRoute
)

Symbol = Annotated[
    str,
    Path(
        description="Ticker, e.g. AAPL or X:BTCUSD (case-insensitive).",
        json_schema_extra={"pattern": TICKER_SHAPE},
    ),
]
AssetClass = Annotated[
    str | None,
    Query(description="`stock` or `crypto`.", json_schema_extra={"enum": list(ASSET_CLASSES)}),
]


def database_figures(totals: StoreFigures) -> models.DatabaseFigures:
    return models.DatabaseFigures(
        symbols_available=totals.symbols,
        latest_data=totals.latest,
        total_records=totals.records,
        validated_records=totals.validated,
        validation_rate_pct=totals.validation_rate_pct,
    )


@router.get("/status", response_model=models.StatusReport)
async def status(request: Request, context: Reader) -> models.StatusReport:
    """What the store holds and how clean it is; the scheduler and its last run."""
    totals = await figures.totals(context)
    last = await figures.last_backfill(context)
    return models.StatusReport(
        api_version=API_VERSION,
        status="operational",
        database=database_figures(totals),
        data_quality=models.DataQuality(
            records_with_gaps_flagged=totals.gaps,
            scheduler_status=request.app.state.scheduler.status,
            last_backfill=None if last is None else last.finished_at,
        ),
    )


@router.get("/metrics", response_model=models.MetricsReport)
async def metrics(request: Request, context: Reader) -> models.MetricsReport:
    """The scheduler, its last run (any process's), and the store's figures."""
    scheduler = request.app.state.scheduler
    totals = await figures.totals(context)
    last = await figures.last_backfill(context)
    return models.MetricsReport(
        timestamp=datetime.now(UTC),
        scheduler=models.SchedulerState(running=scheduler.running, schedule=scheduler.schedule),
        last_backfill=models.LastBackfill(
            time=None if last is None else last.finished_at,
            successful_symbols=0 if last is None else last.successful_symbols,
            failed_symbols=0 if last is None else last.failed_symbols,
            total_records_imported=0 if last is None else last.records_imported,
        ),
        database=database_figures(totals),
        health=models.HealthSummary(api="healthy", database="healthy"),
    )


@router.get("/historical/{symbol}", response_model=models.HistoricalData, responses=documented(404))
async def historical(
    context: Reader,
    symbol: Symbol,
    start: Annotated[date, Query(description="First day (YYYY-MM-DD), included.")],
    end: Annotated[date, Query(description="Last day (YYYY-MM-DD), included.")],
    timeframe: Annotated[
        str, Query(json_schema_extra={"enum": [t.value for t in HISTORY_TIMEFRAMES]})
    ] = "1d",
    validated_only: Annotated[
        bool, Query(description="Only bars scoring at least `min_quality`.")
    ] = True,
    min_quality: Annotated[
        float, Query(json_schema_extra={"minimum": 0, "maximum": 1})
    ] = PASSING_SCORE,
) -> Response:
    """Bars by calendar day: New York days for stocks, UTC days for crypto (as in GraphQL)."""
    # the docstring is the route's OpenAPI description; the answer is a `HistoricalData`,
    # written straight from the rows (see `_historical_bar`)
    ticker = symbol.upper()
    tf, rows = await history.historical(
        context, ticker, start, end, timeframe, min_quality if validated_only else None
    )
    label = tf.value  # once, not per bar
    return OrjsonResponse(
        {
            "symbol": ticker,
            "timeframe": label,
            "start_date": start,
            "end_date": end,
            "count": len(rows),
            "data": [_historical_bar(ticker, label, row, min_quality) for row in rows],
        }
    )


def _historical_bar(
    symbol: str, timeframe: str, row: asyncpg.Record, min_quality: float
) -> dict[str, Any]:
    """A `HistoricalBar` as a dict, its fields in the model's order. Not a pydantic model per
    bar: building and then serializing those tripled the time of a long answer."""
    score = row["quality_score"]
    return {
        "time": row["time"],
        "symbol": symbol,
        "timeframe": timeframe,
        "open": row["open"],
        "high": row["high"],
        "low": row["low"],
        "close": row["close"],
        "volume": row["volume"],
        "vwap": row["vwap"],
        "source": row["source"],
        "validated": score is not None and score >= min_quality,
        "quality_score": score,
        "validation_notes": row["validation_notes"],
        "gap_detected": row["gap_detected"],
        "volume_anomaly": row["volume_anomaly"],
        "fetched_at": row["fetched_at"],
    }


@router.get("/symbols", response_model=models.SymbolList)
async def symbols(context: Reader, asset_class: AssetClass = None) -> models.SymbolList:
    """Symbols with stored bars."""
    found = await figures.symbols(context, asset_class)
    return models.SymbolList(symbols=found, count=len(found))


@router.get("/symbols/detailed", response_model=models.SymbolDetails)
async def symbols_detailed(context: Reader) -> models.SymbolDetails:
    """Per symbol: bars, validation rate, newest bar, its age and a health verdict."""
    now = datetime.now(UTC)
    found = await figures.symbol_health(context, now)
    return models.SymbolDetails(
        count=len(found),
        timestamp=now,
        symbols=[
            models.SymbolDetail(
                symbol=h.figures.symbol,
                records=h.figures.records,
                validation_rate=h.figures.validation_rate_pct,
                latest_data=h.figures.latest,
                data_age_hours=h.data_age_hours,
                timeframes=list(h.figures.timeframes),
                status=h.status,
            )
            for h in found
        ],
    )


@router.get("/bars", response_model=models.RecentBars)
async def bars(
    context: Reader,
    symbol: Annotated[str | None, Query(description="One ticker.")] = None,
    symbols: Annotated[str | None, Query(description="Tickers, comma-separated.")] = None,
    timeframe: Annotated[str, Query(description="1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w, 1mo.")] = "1d",
    limit: Annotated[int, Query(description="Bars per symbol.")] = 100,
    asset_class: AssetClass = None,
) -> Response:
    """The newest bars of one or more symbols, newest first."""
    # a `RecentBars`, written straight from the rows as `historical` writes its bars
    tickers = _tickers(symbol, symbols)
    if asset_class is not None:
        wanted = figures.asset_class_filter(asset_class)
        tickers = [t for t in tickers if wanted(t)]
    rows = await history.newest_bars(context, tickers, timeframe, limit) if tickers else []
    data = [
        {
            "symbol": r["symbol"],
            "timestamp": r["time"],
            "open": r["open"],
            "high": r["high"],
            "low": r["low"],
            "close": r["close"],
            "volume": r["volume"],
            "vwap": r["vwap"],
        }
        for r in rows
    ]
    return OrjsonResponse({"status": "success", "data": data})


def _tickers(symbol: str | None, symbols: str | None) -> list[str]:
    """The tickers asked for; neither parameter (or only blanks) is a missing parameter, 422
    as FastAPI answers for the other routes' required parameters."""
    listed = [s.strip().upper() for s in (symbols or "").split(",") if s.strip()]
    if symbol is not None and symbol.strip():
        listed.insert(0, symbol.strip().upper())
    if not listed:
        raise RequestValidationError(
            [{"loc": ("query", "symbol"), "msg": "give `symbol` or `symbols` (comma list)",
              "type": "missing"}]
        )  # fmt: skip
    return listed
