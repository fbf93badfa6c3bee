"""What an import keeps with its dataset is read back one way (`DatasetOptions.from_dict`): the
scoring API, training and the store's reads take a leads dataset's notation, date formats,
outcome window and own creation column, and a deals dataset's amount rules, stage probabilities,
features, rep probability scale, push value fixes, currency and exchange rates, as the import
wrote them."""

from __future__ import annotations

from forecast.data.dataset_options import DatasetOptions
from forecast.data.mapping import Mapping


def _leads(created: str = "Erstellt am", **more: object) -> Mapping:
    return Mapping.model_validate(
        {
            "kind": "leads",
            "dataset": "de",
            "columns": {"id": "Lead", "converted": "Konvertiert", "created_at": created},
            **more,
        }
    )


def test_a_leads_datasets_options_read_back_as_its_mapping_wrote_them():
    mapping = _leads(
        csv={"separator": ";", "decimal": ",", "thousands": "."},
        date_format=["%d.%m.%Y", "%d.%m.%y"],
        outcome_days=45.5,
    )
    options = DatasetOptions.from_dict(mapping.options)
    assert options.notation == (",", ".")
    assert options.date_formats == ("%d.%m.%Y", "%d.%m.%y")
    assert options.outcome_days == 45.5
    assert options.created_at_column == "Erstellt am"


def test_iso_8601_among_the_stored_date_formats_is_left_out():
    """Every reader tries ISO 8601 first anyway: the formats are the dataset's own."""
    stored = {"date_formats": ["ISO8601", "%m/%d/%Y"]}
    assert DatasetOptions.from_dict(stored).date_formats == ("%m/%d/%Y",)


def test_a_decimal_comma_without_a_thousands_mark_is_read_with_none():
    options = DatasetOptions.from_dict(_leads(csv={"decimal": ","}).options)
    assert options.notation == (",", None)


def test_a_dataset_without_options_reads_the_defaults():
    """Stored before an option existed, or a leads mapping that sets none: ISO dates, Python's
    numbers, no outcome window, the canonical creation column."""
    for stored in (None, {}, _leads(created="created_at").options):
        options = DatasetOptions.from_dict(stored)
        assert options.notation is None
        assert options.date_formats == ()
        assert options.outcome_days is None
        assert options.created_at_column is None
        assert options.amount_known_before_close is True
        assert options.rep_probability_scale == 1.0


def test_a_deals_datasets_options_read_back_as_its_mapping_wrote_them():
    mapping = Mapping.model_validate(
        {
            "kind": "opportunities",
            "dataset": "d",
            "columns": {"id": "Deal", "stage": "Stage"},
            "features": {"Segment": "Segment"},
            "stage_probabilities": {"Qualification": 0.2},
            "amount": {"known_before_close": False},
            "rep_probability_scale": 100,
        }
    )
    options = DatasetOptions.from_dict(mapping.options)
    assert options.stage_probabilities == (("Qualification", 0.2),)
    assert options.stage_probabilities_from == "mapping"
    assert options.features == ("Segment",)
    assert options.amount_known_before_close is False
    assert options.rep_probability_scale == 100.0
    assert options.notation is None and options.created_at_column is None


def test_what_a_push_is_fixed_and_converted_by_reads_back_as_the_import_wrote_it():
    """The value fixes of the fields a CRM pushes (by field, not by the export's column), the
    dataset's currency and its exchange rates: a push is read as the export was."""
    mapping = Mapping.model_validate(
        {
            "kind": "opportunities",
            "dataset": "d",
            "columns": {"id": "Deal", "stage": "Stage", "sector": "Industry"},
            "value_fixes": {"Industry": {"technolgy": "technology"}},
            "currency": "eur",
            "exchange_rates": {"USD": 0.92},
        }
    )
    options = DatasetOptions.from_dict(mapping.options)
    assert options.value_fixes == (("sector", (("technolgy", "technology"),)),)
    assert options.currency == "EUR"
    assert options.exchange_rates == (("USD", 0.92),)


def test_a_dataset_stored_without_currency_options_reads_us_dollars_and_no_fixes():
    options = DatasetOptions.from_dict({"amount_known_before_close": True})
    assert options.value_fixes == () and options.exchange_rates == ()
    assert options.currency == "USD"
