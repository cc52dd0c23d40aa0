"""The support desk's departments: the one place a department is declared.

Adding a department is an entry here, its training utterances
(`local_model/data/utterances.jsonl`) and its playbook (`local_model/playbooks/`); routing,
the transfer tools, prompts and tool binding follow (README, "Adding a department").
The labels and node names are a public contract of `eval routing`.
"""

from __future__ import annotations

from graph.departments import Department, DepartmentRegistry

TECHNICAL = Department(
    intent="technical",
    node="technical",
    description="errors, outages, API/SDK/integration problems, login, SSO, 2FA",
    role=(
        "You are the technical support specialist for {company}: API errors, outages, SDKs, "
        "integrations, webhooks, login, SSO and 2FA. Check the service status and search the "
        "knowledge base, then give the customer the concrete steps from the matching article."
    ),
    tools=("get_service_status", "search_knowledge_base", "get_customer_profile", "create_ticket"),
    ticket_kind="technical",
    playbook="technical",
    signals=(
        r"\b(errors?|5\d\d|4\d\d|outage|down|crash\w*|bug|api|sdk|webhooks?|integration|"
        r"log ?in|sign ?in|password|pwd|pin|locked|sso|saml|okta|2fa|two[- ]factor|"
        r"sign[- ]?up|regist\w*|not loading|timeout|timing out|forgot\w*|recover\w*)\b"
    ),
)

BILLING = Department(
    intent="billing",
    node="billing",
    description="invoices, charges, payment methods, failed payments, tax, billing dates",
    role=(
        "You are the billing specialist for {company}: invoices, charges, payment methods, "
        "failed payments, tax and billing dates. Look invoices up and explain them with their "
        "ID, date, plan and status. Refund requests go to the refunds specialist."
    ),
    tools=(
        "get_customer_profile",
        "list_invoices",
        "find_invoices",
        "list_payments",
        "search_knowledge_base",
    ),
    ticket_kind="billing",
    playbook="billing",
    signals=(
        r"\b(invoices?|bills?|billing|billed|receipts?|charges?|charged|payments?|"
        r"pay|card|vat|tax|termination|penalt\w+|fees?)\b"
    ),
)

REFUNDS = Department(
    intent="refund",
    node="refunds",
    description="refund requests, duplicate charges, refund status and refund policy",
    role=(
        "You are the refunds specialist for {company}. Find the charge in the customer's "
        "invoices (duplicates first when they say they were charged twice), then call "
        "request_refund; tell the customer the amount, the invoice and that refunds take 5-10 "
        "business days, or why a manager must approve."
    ),
    tools=(
        "find_duplicate_charges",
        "find_invoices",
        "list_invoices",
        "request_refund",
        "list_refunds",
        "get_refund_policy",
    ),
    ticket_kind="billing",
    playbook="refunds",
    signals=(
        r"\b(refund\w*|money back|reimburs\w*|rebat\w*|restitution\w*|compensat\w*|"
        r"charged twice|double charged|duplicate charge)\b"
    ),
)

SALES = Department(
    intent="sales",
    node="sales",
    description="upgrades, downgrades, plan comparison, pricing, seats, trials, cancellation",
    role=(
        "You are the sales specialist for {company}: upgrades, downgrades, plan comparison, "
        "pricing, seats, trials, cancellation and retention. Quote real prices from the tools; "
        "offers are capped at 30% discount and 30 days of trial. Change a plan only after the "
        "customer confirms."
    ),
    tools=(
        "get_customer_profile",
        "get_current_plan",
        "compare_plans",
        "get_upgrade_offer",
        "propose_plan_change",
        "change_plan",
        "get_plan_catalogue",
        "propose_cancellation",
        "cancel_subscription",
    ),
    ticket_kind="sales",
    playbook="sales",
    signals=(
        r"\b(upgrad\w*|downgrad\w*|pricing|price|seats?|enterprise|trial|cancel\w*|"
        r"premium|freemium|professional|starter|gold|platinum)\b"
    ),
)

FAQ = Department(
    intent="faq",
    node="faq",
    description="how-to and product questions answered from the knowledge base",
    role=(
        "You answer how-to and product questions for {company} from the knowledge base. Name "
        "the article you used and give its steps."
    ),
    tools=("search_knowledge_base",),
    ticket_kind="other",
    playbook="faq",
    signals=(
        r"\b(export\w*|dashboards?|funnels?|cohorts?|invite\w*|teammates?|"
        r"customer (?:service|support|assistance)|support (?:hours|team|email|phone))\b"
    ),
)

ESCALATION = Department(
    intent="escalation",
    node="escalation",
    description="a human agent: complaints, legal threats, security incidents, or when stuck",
    ticket_kind="escalation",
    kind="human",
    signals=(
        r"\b(human|person|agent|representative|operator|manager|supervisor|complain\w*|"
        r"claim|grievance|reclamation|lawyer|legal|hacked|breach|leak\w*|unacceptable|"
        r"assistant|somebody|someone)\b"
    ),
)

DEPARTMENTS = DepartmentRegistry([TECHNICAL, BILLING, REFUNDS, SALES, FAQ, ESCALATION])
"""The registry every part of the system reads (docs/architecture.md "Departments")."""
