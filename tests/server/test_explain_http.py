"""``"explain": true`` over real HTTP (uvicorn on 127.0.0.1): contributions per row, in the OpenAPI schema."""

from __future__ import annotations

import math

from predictml_desktop.core.prediction import ModelRegistry, predict_rows
from tests.server.conftest import Served
from tests.trained_models import valid_rows

SEED_KEYS = {"success", "datasetId", "modelName", "prediction", "probability", "warnings", "ignoredColumns"}


def test_explain_flag_returns_contributions_that_add_up(served: Served) -> None:
    rows = valid_rows(served.clf, 3, seed=5)
    with served.client() as client:
        plain = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": rows})
        off = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": rows, "explain": False})
        explained = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": rows, "explain": True})
        seed = client.post("/api/predictml/predict",
                           json={"datasetId": served.clf.dataset_id, "inputData": rows[0], "explain": True})
        reg = client.post(f"/predict/{served.reg.dataset_id}", json={"inputData": rows[0] | {
            "purchased": 1}, "explain": True})
    # Without the flag (or with it false) the seed's answer, byte for byte.
    assert plain.status_code == 200 and set(plain.json()) == SEED_KEYS
    assert plain.content == off.content
    body = explained.json()
    assert explained.status_code == 200, body
    assert {k: v for k, v in body.items() if k != "explanations"} == plain.json()
    features = set(served.clf.frame.columns)
    assert len(body["explanations"]) == 3
    for probability, doc in zip(body["probability"], body["explanations"], strict=True):
        assert doc["explains"] == "probability" and set(doc["contributions"]) == features
        assert doc["method"] and isinstance(doc["exact"], bool)
        total = doc["baseValue"] + math.fsum(doc["contributions"].values())
        assert abs(total - doc["output"]) < 1e-6
        # The explained answer is the probability the same response gives for that class.
        assert abs(doc["output"] - probability[f"class_{doc['explainedClass']}"]) < 1e-9
    assert seed.status_code == 200 and len(seed.json()["explanations"]) == 1
    reg_doc = reg.json()["explanations"][0]
    assert reg_doc["explains"] == "value" and reg_doc["explainedClass"] is None
    # The engine's linear regressor here holds cancelling coefficients of about 1e13 (collinear one-hot
    # columns): its own answer moves by ~1e-3 with the batch's memory layout, so compare relatively.
    answer = reg.json()["prediction"][0]
    assert abs(reg_doc["output"] - answer) <= 1e-4 * max(1.0, abs(answer))
    assert abs(reg_doc["baseValue"] + math.fsum(reg_doc["contributions"].values()) - reg_doc["output"]) < 1e-6


def test_plain_answer_equals_the_in_process_one(served: Served) -> None:
    row = valid_rows(served.clf, 1, seed=9)[0]
    with served.client() as client:
        answer = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": row}).json()
    local = predict_rows(ModelRegistry(served.paths).get(served.clf.dataset_id), row, strict=True).to_response()
    assert answer == local


def test_explain_must_be_a_boolean(served: Served) -> None:
    row = valid_rows(served.clf, 1)[0]
    with served.client() as client:
        bad = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": row, "explain": "yes"})
    assert bad.status_code == 422
    assert "explain" in bad.text


def test_openapi_documents_the_flag_and_the_explanations(served: Served) -> None:
    with served.client() as client:
        doc = client.get("/openapi.json").json()
        page = client.get("/docs").text
    schemas = doc["components"]["schemas"]
    request = next(v for k, v in schemas.items() if k.endswith("PredictRequest"))
    assert request["properties"]["explain"]["type"] == "boolean"
    assert request["properties"]["explain"]["default"] is False
    seed = next(v for k, v in schemas.items() if k.endswith("SeedRequest"))
    assert "explain" in seed["properties"]
    explained = schemas["ExplainedPredictResponse"]
    assert "explanations" in explained["properties"]
    row = schemas["RowExplanation"]
    assert {"method", "exact", "baseValue", "output", "contributions", "explainedClass"} <= set(row["properties"])
    ok = doc["paths"][f"/predict/{served.clf.dataset_id}"]["post"]["responses"]["200"]
    refs = [s["$ref"] for s in ok["content"]["application/json"]["schema"]["anyOf"]]
    assert refs == ["#/components/schemas/PredictResponse", "#/components/schemas/ExplainedPredictResponse"]
    assert "explain" in page


def test_extreme_numbers_are_explained_not_refused(served: Served) -> None:
    """1e21 is a valid number: the margins overflow exp(), the explanation must still add up (found by schemathesis)."""
    row = valid_rows(served.clf, 1)[0]
    with served.client() as client:
        features = client.get(f"/schema/{served.clf.dataset_id}").json()["features"]
        numeric = [f["name"] for f in features if f["kind"] == "numeric"]
        extreme = row | {name: (-1e21 if i % 2 else 1e21) for i, name in enumerate(numeric)}
        answer = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": extreme, "explain": True})
    assert answer.status_code == 200, answer.text
    doc = answer.json()["explanations"][0]
    contributions = [v for v in doc["contributions"].values() if v is not None]
    assert len(contributions) == len(doc["contributions"])
    assert abs(doc["baseValue"] + math.fsum(contributions) - doc["output"]) < 1e-6
