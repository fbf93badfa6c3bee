"""A store of several deal datasets, none named: the dashboard's pages offer each dataset as a
link, where they only said to name one (and "back" led to the same page)."""

from __future__ import annotations

import pandas as pd
from fastapi.testclient import TestClient

from forecast import keys
from forecast.data import store
from forecast.data.importing import import_frame
from forecast.data.mapping import load_mapping
from forecast.settings import Settings
from tests.serving.test_dashboard import sign_in


def test_each_page_offers_every_deal_dataset_when_none_is_named(tmp_path):
    from serving.app import create_app

    settings = Settings(state_dir=tmp_path, track_every_hours=0)
    engine = store.get_engine(settings)
    deal = {"id": "A", "stage": "Prospecting", "created_at": "2024-01-02", "amount": 10.0}
    for name in ("north & co", "south"):
        import_frame(engine, pd.DataFrame([deal]), load_mapping("canonical"), dataset=name)
    with engine.begin() as conn:
        key = keys.create_key(conn, "viewer", "viewer")[1]
    with TestClient(create_app(settings)) as client:
        assert sign_in(client, key).status_code == 303
        for page, base in (("/", "/"), ("/dashboard/pipeline", "/dashboard/pipeline")):
            html = client.get(page).text
            assert "several opportunities datasets" in html
            assert "pick one below" in html and "command line" not in html  # a page's words
            assert f'href="{base}?dataset=north%20%26%20co"' in html
            assert f'href="{base}?dataset=south"' in html
