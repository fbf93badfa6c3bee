"""Generated pipelines written as HubSpot or Salesforce would export them: one flat CSV.

A CRM's deal export holds each deal's current state, not its stage history: its own column
names (the preset's, `forecast.data.mappings`), its stock stages, and one "Close Date" that is
the expected close while a deal is open and the actual close once it is won or lost. With
`durations`, a HubSpot export also carries "Date entered <stage>" and "Cumulative time in
<stage> (HH:mm:ss)" columns, as HubSpot adds them per pipeline stage. The files feed the preset
tests and demos; `forecast import` reads them back with the preset found from the header.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.generator import GeneratedPipeline
from forecast.data.mapping import PRESETS, load_mapping
from forecast.data.stages import StageSet
from forecast.errors import InvalidInput

FILE_NAMES = {
    "hubspot": "hubspot_deals.csv",
    "salesforce": "salesforce_opportunities.csv",
    "salesforce_api": "Opportunity.csv",
}
#: Salesforce's API values of the forecast categories (ForecastCategory): Commit is "Forecast".
API_CATEGORIES = {"Commit": "Forecast", "Best Case": "BestCase", "Pipeline": "Pipeline",
                  "Omitted": "Omitted"}  # fmt: skip
DURATION_COLUMN = "Cumulative time in {stage} (HH:mm:ss)"
#: The canonical categories under each CRM's labels, and what a closed deal shows.
CATEGORIES = {
    "hubspot": {"Commit": "Commit", "Best Case": "Best case", "Pipeline": "Pipeline",
                "Omitted": "Not forecasted", "won": "Closed won", "lost": "Not forecasted"},
    "salesforce": {"Commit": "Commit", "Best Case": "Best Case", "Pipeline": "Pipeline",
                   "Omitted": "Omitted", "won": "Closed", "lost": "Omitted"},
}  # fmt: skip
DEAL_TYPES = ["New Business", "Existing Business"]
SF_TYPES = ["New Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement"]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]


def crm_stages(crm: str) -> StageSet:
    """The CRM's stock stages, to generate a pipeline in (aliases left out)."""
    stages = load_mapping(_check(crm)).stage_set
    return StageSet(stages.open_stages, stages.won, stages.lost)


def write_crm_export(
    pipeline: GeneratedPipeline,
    folder: str | Path,
    crm: str,
    *,
    durations: bool = False,
    seed: int = 42,
) -> Path:
    """`pipeline` (generated in `crm_stages(crm)`) as the CRM's flat deal export, one CSV."""
    crm = _check(crm)
    if durations and crm != "hubspot":
        raise InvalidInput("--durations: only HubSpot exports carry per-stage dates and times")
    mapping = load_mapping(crm)
    if pipeline.stages.all_stages != mapping.stage_set.all_stages:
        raise InvalidInput(f"generate the pipeline in the {crm} stages (crm_stages) first")
    if crm == "salesforce_api":
        return _salesforce_data_export(pipeline, Path(folder), seed)
    cols = mapping.column_map()
    deals = pipeline.opportunities
    rng = np.random.default_rng(seed + 12)  # its own draws: the pipeline stays as generated
    n = len(deals)
    closed = (deals["status"] != "open").to_numpy()
    close = np.where(closed, deals["closed_at"], deals["expected_close_at"])
    labels = CATEGORIES[crm]
    category = deals["forecast_category"].map(labels)
    category = category.where(deals["status"] == "open", deals["status"].map(labels))
    day, stamp = ("%m/%d/%Y", "%m/%d/%Y") if crm == "salesforce" else ("%Y-%m-%d", "%Y-%m-%d %H:%M")
    out = pd.DataFrame(
        {
            cols["id"]: _ids(crm, n),
            "Deal Name" if crm == "hubspot" else "Opportunity Name": (
                deals["account"] + " - " + deals["product"]
            ),
            cols["account"]: deals["account"],
            cols["stage"]: deals["stage"],
            cols["amount"]: deals["amount"],
            cols["close_date"]: _dates(pd.Series(close), np.where(closed, stamp, day)),
            cols["created_at"]: _dates(deals["created_at"], stamp),
            cols["updated_at"]: _dates(deals["updated_at"], stamp),
            cols["owner"]: deals["owner"],
            cols["forecast_category"]: category,
        }
    )
    probability = deals["stage"].map(mapping.stage_probabilities)
    if crm == "hubspot":
        out.insert(2, "Pipeline", "Sales Pipeline")
        out["Deal probability"] = probability
        out["Deal Type"] = rng.choice(DEAL_TYPES, n, p=[0.7, 0.3])
    else:
        # Salesforce fills the stage's probability; a rep may change it while the deal is open.
        rep = (deals["rep_probability"] * 100).round()
        out[cols["rep_probability"]] = np.where(closed, probability * 100, rep).astype(int)
        out["Type"] = rng.choice(SF_TYPES, n, p=[0.6, 0.3, 0.1])
        out["Lead Source"] = rng.choice(LEAD_SOURCES, n, p=[0.35, 0.2, 0.2, 0.1, 0.15])
    if durations:
        out = pd.concat([out, _stage_columns(pipeline, mapping.entered_patterns[0])], axis=1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAMES[crm]
    out.to_csv(path, index=False)
    return path


def _salesforce_data_export(pipeline: GeneratedPipeline, folder: Path, seed: int) -> Path:
    """Opportunity.csv, OpportunityHistory.csv, Account.csv and User.csv as Salesforce's Data
    Export service writes them: API field names, owners and accounts by id (their names in
    User.csv and Account.csv), ISO dates, date-times in UTC with "Z"; one history row per stage
    a deal entered, with the deal's amount, its expected close (the actual one at the outcome),
    the stage's probability and its forecast category then."""
    deals = pipeline.opportunities
    mapping = load_mapping("salesforce_api")
    rng = np.random.default_rng(seed + 12)
    n = len(deals)
    closed = (deals["status"] != "open").to_numpy()
    close = pd.Series(np.where(closed, deals["closed_at"], deals["expected_close_at"]))
    ids = pd.Series(_ids("salesforce", n), index=deals.index)
    owners = {o: f"005{i:012d}AAA" for i, o in enumerate(sorted(deals["owner"].unique()))}
    accounts = {a: f"001{i:012d}AAA" for i, a in enumerate(sorted(deals["account"].unique()))}
    api = deals["forecast_category"].map(API_CATEGORIES)
    api = api.where(~closed, np.where(deals["status"] == "won", "Closed", "Omitted"))
    stamp = "%Y-%m-%dT%H:%M:%S.000Z"
    rep = (deals["rep_probability"] * 100).round()
    probability = deals["stage"].map(mapping.stage_probabilities) * 100
    out = pd.DataFrame(
        {
            "Id": ids,
            "IsDeleted": "false",
            "AccountId": deals["account"].map(accounts),
            "Name": deals["account"] + " - " + deals["product"],
            "StageName": deals["stage"],
            "Amount": deals["amount"],
            "Probability": np.where(closed, probability, rep).astype(int),
            "CloseDate": _dates(close, "%Y-%m-%d"),
            "Type": rng.choice(SF_TYPES, n, p=[0.6, 0.3, 0.1]),
            "LeadSource": rng.choice(LEAD_SOURCES, n, p=[0.35, 0.2, 0.2, 0.1, 0.15]),
            "IsClosed": np.where(closed, "true", "false"),
            "IsWon": np.where(deals["status"] == "won", "true", "false"),
            "ForecastCategory": api,
            "OwnerId": deals["owner"].map(owners),
            "CreatedDate": _dates(deals["created_at"], stamp),
            "LastModifiedDate": _dates(deals["updated_at"], stamp),
        }
    )
    history = pipeline.history.merge(
        pd.DataFrame(
            {
                "opportunity_id": deals["id"],
                "Id": ids,
                "Amount": deals["amount"],
                "close": close,
                "expected": deals["expected_close_at"],
            }
        ),
        on="opportunity_id",
    ).sort_values(["Id", "entered_at"], kind="stable")
    by_stage = pd.Series(mapping.stage_probabilities)
    stages = pipeline.stages
    # While open, the close date the rep expected; at the outcome, the actual close.
    outcome = history["stage"].isin([stages.won, stages.lost])
    history["close"] = history["close"].where(outcome, history["expected"])
    category = history["stage"].map(
        lambda stage: (
            "Closed"
            if stage == stages.won
            else "Omitted"
            if stage == stages.lost
            # the early stages in Pipeline, the late ones in Best Case, the last in Commit
            else ("Pipeline", "BestCase", "Forecast")[
                min(2, 3 * stages.order(stage) // len(stages.open_stages))
            ]
        )
    )
    rows = pd.DataFrame(
        {
            "Id": [f"008{i:012d}AAA" for i in range(1, len(history) + 1)],
            "OpportunityId": history["Id"].to_numpy(),
            "CreatedDate": _dates(history["entered_at"], stamp).to_numpy(),
            "StageName": history["stage"].to_numpy(),
            "Amount": history["Amount"].to_numpy(),
            "CloseDate": _dates(history["close"], "%Y-%m-%d").to_numpy(),
            "Probability": (history["stage"].map(by_stage) * 100).round().astype(int).to_numpy(),
            "ForecastCategory": category.to_numpy(),
            "IsDeleted": "false",
        }
    )
    first = deals.drop_duplicates("account").set_index("account")
    account_rows = pd.DataFrame(
        {
            "Id": list(accounts.values()),
            "Name": list(accounts),
            "Industry": first.loc[list(accounts), "sector"].str.title().to_numpy(),
            "NumberOfEmployees": first.loc[list(accounts), "account_employees"].to_numpy(),
            "AnnualRevenue": (first.loc[list(accounts), "account_revenue"] * 1e6).to_numpy(),
            "BillingCountry": first.loc[list(accounts), "account_country"].to_numpy(),
        }
    )
    user_rows = pd.DataFrame({"Id": list(owners.values()), "Name": list(owners)})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAMES["salesforce_api"]
    out.to_csv(path, index=False)
    rows.to_csv(folder / "OpportunityHistory.csv", index=False)
    account_rows.to_csv(folder / "Account.csv", index=False)
    user_rows.to_csv(folder / "User.csv", index=False)
    return path


def _check(crm: str) -> str:
    if crm not in PRESETS:
        raise InvalidInput(f"unknown CRM format {crm!r}; accepted: {', '.join(PRESETS)}")
    return crm


def _ids(crm: str, n: int) -> list[str]:
    """Ids shaped like the CRM's: HubSpot's long numbers, Salesforce's 18-character keys."""
    if crm == "hubspot":
        return [str(9_000_000_000 + 37 * i) for i in range(1, n + 1)]
    return [f"006{i:012d}AAA" for i in range(1, n + 1)]


def _dates(values: pd.Series, fmt: str | np.ndarray) -> pd.Series:
    """Dates as text in `fmt` (one format, or one per row); blank where there is none."""
    when = pd.to_datetime(values)
    formats = np.broadcast_to(np.asarray(fmt, dtype=object), len(when))
    text = [t.strftime(f) if pd.notna(t) else "" for t, f in zip(when, formats, strict=True)]
    return pd.Series(text, index=values.index)


def _stage_columns(pipeline: GeneratedPipeline, pattern: str | None) -> pd.DataFrame:
    """Per stage: when each deal entered it, and (open stages) how long it stayed there, in
    HH:mm:ss; blank for stages a deal never reached and for the time in its current stage."""
    log = pipeline.history.sort_values(["opportunity_id", "entered_at"], kind="stable")
    left = log.groupby("opportunity_id")["entered_at"].shift(-1)
    spent = (left - log["entered_at"]).dt.total_seconds()
    ids = pipeline.opportunities["id"]
    columns = {}
    for stage in pipeline.stages.all_stages:
        mine = log["stage"] == stage
        entered = log.loc[mine].set_index("opportunity_id")["entered_at"].reindex(ids)
        name = (pattern or "Date entered {stage}").format(stage=stage)
        columns[name] = _dates(entered.reset_index(drop=True), "%Y-%m-%d %H:%M")
        if stage in pipeline.stages.open_stages:
            seconds = spent[mine].set_axis(log.loc[mine, "opportunity_id"]).reindex(ids)
            columns[DURATION_COLUMN.format(stage=stage)] = [_hms(s) for s in seconds.to_numpy()]
    return pd.DataFrame(columns)


def _hms(seconds: float) -> str:
    if np.isnan(seconds):
        return ""
    total = int(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
