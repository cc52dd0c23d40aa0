"""What the LLM path costs: model calls per turn, and hybrid triage accuracy.

Usage::

    python -m evals.llm_calls [path/to/labelled.jsonl]   # default: ../shared/data/bitext/dev.jsonl

1. Model calls per turn over the standard scenarios (`evals.demo.SCENARIOS`), with
   triage in `llm` mode (the model triages every turn, as the seed designs do) and in
   `hybrid` mode (the embedded classifier decides and asks the model only when unsure).
   The model is scripted: as triage it returns the right department for each message
   (the classifier's entities, priority and summary, with the true label), as a
   specialist it makes the natural tool calls of the embedded playbooks on a real CRM.
   Reported per turn: triage calls, specialist calls (each round of the model -> tools
   loop is a call) and specialist visits (agents that took part in the turn, i.e. the
   calls a specialist answering in one shot would make).
2. Triage accuracy of `hybrid` mode on labelled messages when the model side is always
   right (a scripted triage model that returns the true label), with the share of
   messages deferred to the model, next to the classifier alone, for a few thresholds.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.runtime import Runtime

from evals.demo import SCENARIOS
from evals.routing import PUBLIC_DATA_DIR, LabelledMessage, load_labelled
from evals.scripted_model import (
    TRIAGE_ROLE,
    ScriptedChatModel,
    last_customer_text,
    use_scripted_models,
)
from graph.builder import compile_graph
from graph.context import Context
from graph.state import TriageDecision

SCRIPTED = "fake:scripted"
TODAY = "2026-11-22"

SCENARIO_LABELS: dict[str, str] = {
    "My API calls keep returning 500 errors since this morning": "technical",
    "I was charged twice this month and want my money back": "refund",
    "Can you explain what the $49.99 charge on March 1st was for?": "billing",
    "How do I export my data to CSV?": "faq",
    "I want to upgrade from Professional to Enterprise": "sales",
    "yes, please do that": "sales",
    "I have a question about my last invoice": "billing",
    "Actually, can I also upgrade my plan?": "sales",
    "I have a question about my account": "clarify",
    "Let me speak to a human, this is unacceptable": "escalation",
    "Refund my $750 charge": "refund",
    "What's the weather in Paris?": "other",
}
"""The right triage answer for each scenario message (`clarify`: ask one question)."""

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def oracle_triage(labels: dict[str, str]) -> Any:
    """A scripted triage step returning the true label of the customer's message.

    Entities, priority, sentiment and summary come from the embedded analysis (what a
    capable model would also extract); unknown messages keep the classifier's decision.
    """
    from local_model.triage import classify_message

    def answer(messages: list[BaseMessage]) -> TriageDecision:
        text = last_customer_text(messages)
        decision = classify_message(text)
        label = labels.get(text)
        if label is None:
            return decision
        if label == "clarify":
            return decision.model_copy(
                update={"needs_clarification": True, "intent": "other", "confidence": 0.95}
            )
        return decision.model_copy(
            update={"intent": label, "confidence": 0.95, "needs_clarification": False}
        )

    return answer


@dataclass
class TurnCost:
    """Model calls made during one customer turn."""

    scenario: str
    message: str
    route: list[str]
    triage: int
    specialist: int
    visits: int

    @property
    def total(self) -> int:
        return self.triage + self.specialist


@dataclass
class CostReport:
    mode: str
    turns: list[TurnCost] = field(default_factory=list)

    def mean(self, attribute: str) -> float:
        values = [getattr(t, attribute) for t in self.turns]
        return sum(values) / len(values) if values else 0.0


def _visits(roles: Sequence[str]) -> int:
    """Specialist visits in a turn: runs of consecutive calls by the same specialist."""
    count, previous = 0, None
    for role in roles:
        if role != TRIAGE_ROLE and role != previous:
            count += 1
        previous = role
    return count


def measure_calls(mode: str, workdir: Path) -> CostReport:
    """Run every scenario in triage `mode` and count the model calls of each turn."""
    from local_model.chat_model import LocalSupportModel

    model = ScriptedChatModel(
        fallback={TRIAGE_ROLE: oracle_triage(SCENARIO_LABELS)}, delegate=LocalSupportModel()
    )
    base = Context(
        model=SCRIPTED,
        today=TODAY,
        triage_mode=mode,
        crm_path=str(workdir / f"crm-{mode}.sqlite"),
    )
    graph = compile_graph(InMemorySaver())
    report = CostReport(mode)
    with use_scripted_models({SCRIPTED: model}):
        for number, scenario in enumerate(SCENARIOS):
            thread = f"{mode}-{number}"
            config: RunnableConfig = {"configurable": {"thread_id": thread}}
            context = replace(base, customer_id=scenario.customer_id, thread_id=thread)
            for message in scenario.messages + scenario.resume_in_new_process:
                model.reset()
                route: list[str] = []
                for chunk in graph.stream(
                    {"messages": [HumanMessage(message)]},
                    config,
                    context=context,
                    stream_mode="updates",
                ):
                    for node in chunk:
                        shown = not node.endswith("_tools") and node != "__interrupt__"
                        if shown and (not route or route[-1] != node):
                            route.append(node)
                roles = [call.role for call in model.calls]
                report.turns.append(
                    TurnCost(
                        scenario=scenario.title,
                        message=message,
                        route=route,
                        triage=roles.count(TRIAGE_ROLE),
                        specialist=len(roles) - roles.count(TRIAGE_ROLE),
                        visits=_visits(roles),
                    )
                )
    return report


INVENTED = " For a 15 % loyalty discount call +1 (555) 010-2030 or see https://lumen.example/deal."
"""What the inventing model adds to a reply: a discount, a phone number and a link that no
tool, catalogue entry or article backs."""

STUBBORN = ("refunds", "sales")
"""Departments where the inventing model invents again when asked to retry."""


def inventing_model() -> Any:
    """The `local` model with `INVENTED` added to every final specialist reply; asked again
    with the grounding note it drops the addition, except in `STUBBORN` departments."""
    from langchain_core.messages import AIMessage, SystemMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    from local_model.chat_model import LocalSupportModel

    class InventingModel(LocalSupportModel):
        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:
            result = super()._generate(messages, stop, run_manager, **kwargs)
            message = result.generations[0].message
            system = next((m.text for m in messages if isinstance(m, SystemMessage)), "")
            if getattr(message, "tool_calls", None) or not system.startswith("Agent: "):
                return result
            agent = system.split()[1]
            if "was not sent to the customer" in system and agent not in STUBBORN:
                return result
            invented = AIMessage(content=message.text + INVENTED)
            return ChatResult(generations=[ChatGeneration(message=invented)])

    return InventingModel()


@dataclass
class GroundingReport:
    """Replies of a model that invents facts, and what the grounding check did with them."""

    turns: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    sent_with_invented_facts: int = 0


def measure_grounding(workdir: Path) -> GroundingReport:
    """Run every scenario with `inventing_model` as the specialists' model (`hybrid`
    triage) and count checks, catches, retries and playbook fallbacks, and the replies sent
    that still state an unbacked fact (should be 0)."""
    from langchain_core.messages import AIMessage

    from nodes.grounded_reply import GROUNDING_COUNTS, grounding_sources
    from nodes.grounding import unsupported_facts

    before = dict(GROUNDING_COUNTS)
    base = Context(model=SCRIPTED, today=TODAY, crm_path=str(workdir / "crm-grounding.sqlite"))
    graph = compile_graph(InMemorySaver())
    report = GroundingReport()
    with use_scripted_models({SCRIPTED: inventing_model()}):
        for number, scenario in enumerate(SCENARIOS):
            config: RunnableConfig = {"configurable": {"thread_id": f"g-{number}"}}
            context = replace(base, customer_id=scenario.customer_id, thread_id=f"g-{number}")
            for message in scenario.messages + scenario.resume_in_new_process:
                state = graph.invoke({"messages": [HumanMessage(message)]}, config, context=context)
                report.turns += 1
                sent = state["messages"][-1]
                if isinstance(sent, AIMessage) and INVENTED.strip()[:20] in sent.text:
                    report.sent_with_invented_facts += 1
                elif isinstance(sent, AIMessage) and sent.name not in ("triage", "escalation"):
                    sources = grounding_sources(state["messages"][:-1], context)
                    report.sent_with_invented_facts += bool(unsupported_facts(sent.text, sources))
    report.counts = {k: GROUNDING_COUNTS[k] - before.get(k, 0) for k in GROUNDING_COUNTS}
    return report


@dataclass
class AccuracyRow:
    threshold: float
    n: int
    deferred: int
    hybrid_correct: int
    classifier_correct: int


def measure_accuracy(
    rows: Sequence[LabelledMessage], workdir: Path, thresholds: Sequence[float] = THRESHOLDS
) -> list[AccuracyRow]:
    """Hybrid triage accuracy with an always-right model, per classifier threshold.

    Each message goes through the real triage node (new conversation, customer C001); a
    clarifying question counts as wrong. `classifier_correct` is the same node in
    `classifier` mode (the model never asked).
    """
    from nodes.triage import triage

    labels = {row.text: row.label for row in rows}
    oracle = ScriptedChatModel(fallback={TRIAGE_ROLE: oracle_triage(labels)})
    base = Context(model=SCRIPTED, today=TODAY, crm_path=str(workdir / "crm-accuracy.sqlite"))
    results = []
    with use_scripted_models({SCRIPTED: oracle}):
        for threshold in thresholds:
            counts = {"hybrid": 0, "classifier": 0}
            oracle.reset()
            for mode in counts:
                runtime = Runtime(
                    context=replace(base, triage_mode=mode, triage_threshold=threshold)
                )
                for row in rows:
                    update = triage({"messages": [HumanMessage(row.text)]}, runtime)
                    counts[mode] += update["intent"] == row.label
            results.append(
                AccuracyRow(
                    threshold=threshold,
                    n=len(rows),
                    deferred=oracle.count(TRIAGE_ROLE),
                    hybrid_correct=counts["hybrid"],
                    classifier_correct=counts["classifier"],
                )
            )
    return results


def _print_costs(reports: Sequence[CostReport]) -> None:
    print("Model calls per turn over the standard scenarios (scripted model)")
    header = f"{'message':<58} {'route':<34}"
    print(header + "".join(f" {r.mode + ' t/s/v':>13}" for r in reports))
    for index, turn in enumerate(reports[0].turns):
        cells = "".join(
            f" {f'{r.turns[index].triage}/{r.turns[index].specialist}/{r.turns[index].visits}':>13}"
            for r in reports
        )
        print(f"{turn.message[:57]:<58} {' > '.join(turn.route)[:33]:<34}{cells}")
    print("  t/s/v = triage calls / specialist calls (tool rounds included) / specialist visits")
    print()
    for r in reports:
        print(
            f"{r.mode:>7}: {len(r.turns)} turns; per turn: triage {r.mean('triage'):.2f}, "
            f"specialist {r.mean('specialist'):.2f}, total {r.mean('total'):.2f}; "
            f"triage + one call per visit {r.mean('triage') + r.mean('visits'):.2f}"
        )
    print()


def _print_accuracy(path: Path, rows: Sequence[AccuracyRow]) -> None:
    print(f"Hybrid triage on {path} with an always-right triage model")
    print(f"{'threshold':>9} {'deferred':>14} {'hybrid':>8} {'classifier alone':>17}")
    for row in rows:
        print(
            f"{row.threshold:>9.2f} {row.deferred:>5} ({row.deferred / row.n:>5.1%}) "
            f"{row.hybrid_correct / row.n:>8.1%} {row.classifier_correct / row.n:>17.1%}"
        )
    print(
        f"  n = {rows[0].n if rows else 0}; the default threshold is {Context().triage_threshold}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the call counts and the hybrid accuracy; return exit code 0."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else PUBLIC_DATA_DIR / "bitext" / "dev.jsonl"
    with tempfile.TemporaryDirectory(prefix="llm-calls-") as tmp:
        workdir = Path(tmp)
        _print_costs([measure_calls("llm", workdir), measure_calls("hybrid", workdir)])
        grounding = measure_grounding(workdir)
        print(
            f"Grounding with a model that invents facts: {grounding.turns} turns, "
            + ", ".join(f"{name} {count}" for name, count in sorted(grounding.counts.items()))
            + f"; replies sent with an invented fact: {grounding.sent_with_invented_facts}"
        )
        print()
        if path.exists():
            _print_accuracy(path, measure_accuracy(load_labelled(path), workdir))
        else:
            print(f"{path} not found: accuracy skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
