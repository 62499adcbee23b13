"""Builds (or refreshes) the demo organization. Flush only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.accounts.models import User
from lms.accounts.services import create_user, find_user
from lms.cohorts.models import Cohort, Organization
from lms.cohorts.services import active_enrolment, create_organization, enrol
from lms.database import utcnow

DEMO_PASSWORD = "demo-password-2026"
ORGANIZATION = "Northwind Ventures"
COHORT = "Northwind cohort 1"
LEARNERS = [
    "Amara Okafor", "Bruno Costa", "Chen Wei", "Dana Levi", "Elif Yilmaz", "Farah Haddad",
    "Gabriel Moreau", "Hana Sato", "Ivan Petrov", "Julia Novak", "Kofi Mensah", "Lucia Romero",
]


@dataclass(frozen=True)
class Credential:
    role: str
    name: str
    email: str
    password: str


def _person(session: Session, email: str, name: str, *, admin: bool = False) -> User:
    user = find_user(session, email)
    if user is None:
        user = create_user(session, email, name, DEMO_PASSWORD, timezone="Europe/London", is_admin=admin)
    return user


def build_demo(session: Session, today: date | None = None) -> list[Credential]:
    """An organization, a cohort that started five months ago, an instructor, an
    organization admin, a site admin and twelve learners. Safe to run again."""
    today = today or utcnow().date()
    org = session.scalar(select(Organization).where(Organization.name == ORGANIZATION)) \
        or create_organization(session, ORGANIZATION)
    cohort = session.scalar(select(Cohort).where(Cohort.organization_id == org.id, Cohort.name == COHORT))
    if cohort is None:
        cohort = Cohort(organization=org, name=COHORT, start_date=today - relativedelta(months=5), timezone="Europe/London")
        session.add(cohort)
    credentials = [
        Credential("site admin", "Sam Admin", "admin@demo.lms", DEMO_PASSWORD),
        Credential("organization admin", "Olivia Grant", "orgadmin@demo.lms", DEMO_PASSWORD),
        Credential("instructor", "Ines Teller", "instructor@demo.lms", DEMO_PASSWORD),
    ]
    _person(session, "admin@demo.lms", "Sam Admin", admin=True)
    org_admin = _person(session, "orgadmin@demo.lms", "Olivia Grant")
    if org_admin not in org.admins:
        org.admins.append(org_admin)
    instructor = _person(session, "instructor@demo.lms", "Ines Teller")
    if instructor not in cohort.instructors:
        cohort.instructors.append(instructor)
    session.flush()
    for number, name in enumerate(LEARNERS, start=1):
        email = f"learner{number:02d}@demo.lms"
        learner = _person(session, email, name)
        if active_enrolment(session, learner.id) is None:
            enrol(session, cohort, learner)
        credentials.append(Credential("learner", name, email, DEMO_PASSWORD))
    session.flush()
    return credentials
