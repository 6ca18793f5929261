"""Routers: one interface, one eval; each kind routes to a known queue with a score, and is timed."""

import math

import pandas as pd
import pytest

from aieng import data, prompts, routers

TEXTS = ["I was charged twice for March, please refund one of the charges",
         "Barclays feed stopped syncing yesterday, no transactions since Monday"]


@pytest.fixture(scope="module")
def validation() -> pd.DataFrame:
    return data.load_tickets("validation")


@pytest.fixture(scope="module")
def description_router() -> routers.DescriptionRouter:
    return routers.DescriptionRouter.from_version("v1")


def _assert_routes(routes, n):
    assert len(routes) == n
    for route in routes:
        assert isinstance(route, routers.Route)
        assert route.queue in data.INTENTS


@pytest.mark.slow
def test_every_kind_meets_the_interface(description_router, one_torch_thread):
    few = routers.FewLabelRouter.first_n(22)
    classic_router = routers.ClassicRouter.train(data.load_tickets("train").head(120))
    for router in (description_router, few, classic_router):
        assert isinstance(router, routers.Router)
        _assert_routes(router.route(TEXTS), len(TEXTS))
    assert description_router.labels_used == 0 and few.labels_used == 22 and classic_router.labels_used == 120
    assert description_router.id == "embedding-zero:queues-v1"
    assert few.id == "embedding-lr:train-first-22"


@pytest.mark.slow
def test_scores_are_on_each_routers_scale(description_router, one_torch_thread):
    for route in description_router.route(TEXTS):
        assert -1.0 <= route.score <= 1.0
    for route in routers.FewLabelRouter.first_n(22).route(TEXTS):
        assert 1 / len(data.INTENTS) <= route.score <= 1.0  # the top class's probability


def test_description_router_reads_the_versioned_file_and_rejects_a_missing_queue(tmp_path):
    shipped = prompts.load("queues", "v1")
    descriptions = routers.parse_descriptions(shipped)
    assert list(descriptions) == list(data.INTENTS)
    broken = tmp_path / "queues-mine.md"
    broken.write_text(shipped.path.read_text().replace("- payroll:", "- payrol:"), encoding="utf-8")
    with pytest.raises(ValueError, match="Missing: payroll; unknown: payrol"):
        routers.DescriptionRouter.from_file(broken)
    with pytest.raises(FileNotFoundError, match="Copy prompts/queues-v1.md"):
        routers.DescriptionRouter.from_file(tmp_path / "absent.md")


@pytest.mark.slow
def test_evaluate_scores_and_times_every_router_the_same_way(validation, one_torch_thread):
    report = routers.evaluate(routers.FewLabelRouter.first_n(110), validation)
    assert report.n == len(validation) and report.labels_used == 110
    assert report.predictions["correct"].mean() == pytest.approx(report.accuracy)
    majority = validation["intent"].value_counts(normalize=True).iloc[0]
    assert report.accuracy > majority + 0.2  # 110 labels route far better than the largest queue
    assert report.ms_per_ticket > 0


def test_evaluate_counts_a_constant_router_at_the_majority_share(validation):
    class Constant:
        id, labels_used = "constant:billing", 0

        def route(self, texts):
            return [routers.Route("billing", math.nan) for _ in texts]

    report = routers.evaluate(Constant(), validation)
    assert report.accuracy == pytest.approx(validation["intent"].eq("billing").mean())


def test_misuse_gets_a_clear_message(description_router):
    with pytest.raises(TypeError, match="wrap one text in a list"):
        description_router.route("one ticket")
    with pytest.raises(ValueError, match="empty"):
        description_router.route(["  "])
    with pytest.raises(TypeError, match="is not a router"):
        routers.evaluate(object(), data.load_tickets("validation"))
    with pytest.raises(ValueError, match="Unknown router kind"):
        routers.from_spec({"kind": "magic"})


@pytest.mark.model
def test_prompted_router_routes_through_the_model(llm):
    router = routers.PromptedRouter(llm.client, llm.model, "v2")
    assert router.id == "prompted:triage-v2" and router.labels_used == len(data.INTENTS)
    routes = router.route(TEXTS)
    assert len(routes) == len(TEXTS)
    assert all(r.queue in data.INTENTS for r in routes)  # the schema constrains it to a known queue
