"""Links made before a platform's vouched email was held to the organization's rule.

Until that rule (``lms.cohorts.roles.outsider_to``, the one single sign-on follows), a
first launch linked the platform's user to any existing account with the launch's email,
another organization's instructor included; such links still signed in. A launch through a
link now re-checks the rule (``services.people``), and ``flask lms check-lti-links`` lists
the links that break it and, with ``--unlink``, removes them (audited). Removing a link
never touches the account or its work: the platform's user is no longer that account here
(a later launch finds an account by the rule, or makes a new one), and the grades queued
for the link (sent to the platform under its user id) go with it.

A link belongs to a platform, not to one of its courses: it breaks the rule when its
account may be linked to none of the organizations whose cohorts the platform's courses
map to. A platform with no course mapped is left alone (no launch through it signs in)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload

from lms.audit.models import AuditAction
from lms.audit.services import record_all_from
from lms.cohorts.models import Cohort, Organization
from lms.cohorts.roles import Outsider, outsiders_to
from lms.database import DbSession, rowcount
from lms.lti.models import LtiAccount, LtiContext, LtiScore


@dataclass(frozen=True)
class OutsiderLink:
    """A link whose account belongs to none of the organizations its platform launches into."""

    account: LtiAccount
    organizations: tuple[Organization, ...]  # the platform's, by name
    why: Outsider  # OTHER_ORGANIZATION when the account belongs to some other organization

    @property
    def reason(self) -> str:
        if self.why is Outsider.OTHER_ORGANIZATION:
            return "the account belongs to another organization"
        return "the account belongs to no organization and holds no invitation of this one"

    def state(self) -> dict[str, object]:
        """What the audit log keeps of the removed link."""
        account = self.account
        return {"platform": account.platform.name, "issuer": account.platform.issuer, "platform_user_id": account.subject,
                "email": account.user.email, "organizations": [o.name for o in self.organizations], "why": self.why.value}

    def line(self) -> str:
        account = self.account
        return (f"{account.platform.name}: platform user {account.subject!r} → {account.user.email} "
                f"(organization: {', '.join(o.name for o in self.organizations)}): {self.reason}")


def outsider_links(session: DbSession) -> list[OutsiderLink]:
    """Every link that breaks the rule, by platform and subject: four statements whatever their number."""
    mapped = session.execute(select(LtiContext.platform_id, Organization).distinct()
                             .join(Cohort, Cohort.id == LtiContext.cohort_id)
                             .join(Organization, Organization.id == Cohort.organization_id)).all()
    organizations: dict[int, list[Organization]] = {}
    for platform_id, organization in mapped:
        organizations.setdefault(platform_id, []).append(organization)
    accounts = list(session.scalars(select(LtiAccount).where(LtiAccount.platform_id.in_(sorted(organizations)))
                                    .options(joinedload(LtiAccount.user, innerjoin=True),
                                             joinedload(LtiAccount.platform, innerjoin=True))
                                    .order_by(LtiAccount.platform_id, LtiAccount.subject)))
    refused = outsiders_to(session, {(a.user, o.id) for a in accounts for o in organizations[a.platform_id]})
    found = []
    for account in accounts:
        orgs = sorted(organizations[account.platform_id], key=lambda o: o.name)
        whys = [refused.get((account.user_id, o.id)) for o in orgs]
        if all(whys):
            why = Outsider.OTHER_ORGANIZATION if Outsider.OTHER_ORGANIZATION in whys else Outsider.NO_TIE
            found.append(OutsiderLink(account, tuple(orgs), why))
    return found


def unlink(session: DbSession, links: list[OutsiderLink], actor_id: int | None = None) -> int:
    """Remove these links and the grades queued for them, one audit entry each, filed under
    the link's organization when its platform launches into one (flushes); the accounts and
    everything else of theirs stay. A fixed number of statements whatever the number of
    links (one INSERT of entries an organization)."""
    if not links:
        return 0
    by_organization: dict[int | None, list[OutsiderLink]] = {}
    for link in links:
        by_organization.setdefault(link.organizations[0].id if len(link.organizations) == 1 else None, []).append(link)
    for organization_id, group in by_organization.items():
        record_all_from(session, action=AuditAction.LTI_LINK_REMOVED, organization_id=organization_id, actor_id=actor_id,
                        changes=[(f"user:{link.account.user_id}", link.state(), None) for link in group])
    ids = [link.account.id for link in links]
    session.execute(delete(LtiScore).where(LtiScore.lti_account_id.in_(ids)))
    removed = rowcount(session.execute(delete(LtiAccount).where(LtiAccount.id.in_(ids))))
    session.flush()
    return removed
