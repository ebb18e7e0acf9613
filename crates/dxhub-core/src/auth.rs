//! Who may do what: roles, scopes, principals and the one function that decides every
//! access, [`authorize`]. Handlers never decide access themselves.
//!
//! Province scopes follow the 2025 reorganisation: an officer of the new province 24
//! (Bắc Ninh) also covers the old provinces 24 (Bắc Giang) and 27 (Bắc Ninh) and their
//! communes, and an officer whose account names an old province covers its successor.
//! The caller resolves a scope into the set of province codes it covers
//! ([`Coverage`]) from the lineage; this module only decides.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A person's role (DESIGN.md, "Users and what they can do").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Leads one community digital-technology team.
    TeamLeader,
    /// Officer of one province (and its communes).
    ProvinceOfficer,
    /// Officer of one ministry.
    MinistryOfficer,
    /// National reviewer: verifies and approves.
    Reviewer,
    /// National administrator.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 5] = [
        Role::TeamLeader,
        Role::ProvinceOfficer,
        Role::MinistryOfficer,
        Role::Reviewer,
        Role::Admin,
    ];

    /// The snake_case name used in the CLI, database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::TeamLeader => "team_leader",
            Role::ProvinceOfficer => "province_officer",
            Role::MinistryOfficer => "ministry_officer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    /// The Vietnamese and English names shown to people.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Role::TeamLeader => ("Tổ trưởng tổ công nghệ số", "Team leader"),
            Role::ProvinceOfficer => ("Cán bộ tỉnh", "Province officer"),
            Role::MinistryOfficer => ("Cán bộ bộ, ngành", "Ministry officer"),
            Role::Reviewer => ("Thẩm định viên", "Reviewer"),
            Role::Admin => ("Quản trị", "Administrator"),
        }
    }

    /// What kind of scope the role needs.
    pub fn scope_kind(self) -> ScopeKind {
        match self {
            Role::TeamLeader => ScopeKind::Team,
            Role::ProvinceOfficer => ScopeKind::Province,
            Role::MinistryOfficer => ScopeKind::Ministry,
            Role::Reviewer | Role::Admin => ScopeKind::National,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "'{s}' is not a role; expected one of team_leader, province_officer, \
                 ministry_officer, reviewer, admin"
                )
            })
    }
}

/// The kind of scope a role is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// One team.
    Team,
    /// One province.
    Province,
    /// One ministry.
    Ministry,
    /// The whole country.
    National,
}

/// What an account is responsible for: a unit code (province or ministry), a team, or
/// the nation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "code", rename_all = "snake_case")]
pub enum Scope {
    /// The whole country.
    National,
    /// A province (by code; which version is resolved through lineage).
    Province(String),
    /// A ministry (by code).
    Ministry(String),
    /// A community team (by its identifier).
    Team(String),
}

impl Scope {
    /// The stored form: `national`, `province:24`, `ministry:BTC`, `team:T-123`.
    pub fn to_text(&self) -> String {
        match self {
            Scope::National => "national".to_owned(),
            Scope::Province(c) => format!("province:{c}"),
            Scope::Ministry(c) => format!("ministry:{c}"),
            Scope::Team(t) => format!("team:{t}"),
        }
    }

    /// Reads the stored form.
    pub fn from_text(s: &str) -> Result<Scope, String> {
        if s == "national" {
            return Ok(Scope::National);
        }
        match s.split_once(':') {
            Some(("province", c))
                if crate::units::UnitLevel::of_code(c)
                    == Some(crate::units::UnitLevel::Province) =>
            {
                Ok(Scope::Province(c.to_owned()))
            }
            Some(("ministry", c))
                if crate::units::UnitLevel::of_code(c)
                    == Some(crate::units::UnitLevel::Ministry) =>
            {
                Ok(Scope::Ministry(c.to_owned()))
            }
            Some(("team", t)) if !t.is_empty() && t.len() <= 64 => Ok(Scope::Team(t.to_owned())),
            _ => Err(format!(
                "'{s}' is not a scope; expected national, province:CODE, ministry:CODE or team:ID"
            )),
        }
    }

    /// The scope a role gets from a unit code given on the command line or a form: a
    /// 2-digit code for a province officer, a ministry code for a ministry officer, a team
    /// identifier for a team leader, nothing for national roles.
    pub fn for_role(role: Role, unit: Option<&str>) -> Result<Scope, String> {
        use crate::units::UnitLevel;
        match (role.scope_kind(), unit) {
            (ScopeKind::National, None | Some("") | Some("national")) => Ok(Scope::National),
            (ScopeKind::National, Some(u)) => {
                Err(format!("a {role} is national; remove the scope '{u}'"))
            }
            (ScopeKind::Province, Some(u))
                if UnitLevel::of_code(u) == Some(UnitLevel::Province) =>
            {
                Ok(Scope::Province(u.to_owned()))
            }
            (ScopeKind::Ministry, Some(u))
                if UnitLevel::of_code(u) == Some(UnitLevel::Ministry) =>
            {
                Ok(Scope::Ministry(u.to_owned()))
            }
            (ScopeKind::Team, Some(u)) if !u.is_empty() && u.len() <= 64 => {
                Ok(Scope::Team(u.to_owned()))
            }
            (kind, u) => Err(format!(
                "a {role} needs {} as scope, not {}",
                match kind {
                    ScopeKind::Province => "a 2-digit province code",
                    ScopeKind::Ministry => "a ministry code such as BTC",
                    ScopeKind::Team => "a team identifier",
                    ScopeKind::National => "no unit",
                },
                u.map(|u| format!("'{u}'"))
                    .unwrap_or_else(|| "nothing".to_owned())
            )),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// What a system (API key) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Capability {
    /// Push dossier snapshots.
    IngestDossiers,
    /// Push platform usage counts.
    IngestUsage,
    /// Push community-team activities.
    IngestActivities,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 3] = [
        Capability::IngestDossiers,
        Capability::IngestUsage,
        Capability::IngestActivities,
    ];

    /// The name used on the command line and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::IngestDossiers => "ingest:dossiers",
            Capability::IngestUsage => "ingest:usage",
            Capability::IngestActivities => "ingest:activities",
        }
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not a capability; expected ingest:dossiers, ingest:usage or ingest:activities"))
    }
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Nobody signed in.
    Anonymous,
    /// A person with an account.
    User {
        /// Account id.
        id: i64,
        /// E-mail, shown and audited.
        email: String,
        /// Role.
        role: Role,
        /// Scope.
        scope: Scope,
        /// The province codes (all versions) the scope covers; empty unless a province scope.
        coverage: Coverage,
    },
    /// A system calling with an API key.
    System {
        /// Key id.
        id: i64,
        /// Key name.
        name: String,
        /// The `source` values it may send.
        sources: BTreeSet<String>,
        /// What it may do.
        capabilities: BTreeSet<Capability>,
    },
}

/// The province codes a province scope covers once lineage is followed (e.g. {24, 27}
/// for the new Bắc Ninh).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Province codes, of any map version.
    pub provinces: BTreeSet<String>,
}

/// Everything a principal may ask to do. New features add variants here, and the
/// decision for each lives in [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// Read public pages and data.
    ReadPublic,
    /// Change one's own password.
    ChangeOwnPassword,
    /// List, create, change or reset accounts.
    ManageUsers,
    /// Create, list or revoke API keys.
    ManageKeys,
    /// Read the audit trail and export it.
    ReadAudit,
    /// See the management page of a unit (province, commune or ministry).
    ViewUnitWorkspace {
        /// Level of the unit.
        level: crate::units::UnitLevel,
        /// The unit's province code (for provinces and communes) or own code (ministries).
        province_or_ministry: &'a str,
    },
    /// Change the contact details of a unit's digital-transformation office.
    EditUnitContact {
        /// Level of the unit.
        level: crate::units::UnitLevel,
        /// The unit's province code (for provinces and communes) or own code (ministries).
        province_or_ministry: &'a str,
    },
    /// List the reports one works on (officers, reviewers, administrators).
    ListReports,
    /// See a unit's reports, drafts included, and their evidence.
    ViewReports {
        /// Province or ministry.
        level: crate::units::UnitLevel,
        /// The unit's province code or ministry code.
        province_or_ministry: &'a str,
    },
    /// Fill in a unit's report: values, XLSX upload, evidence; and submit it.
    EditReport {
        /// Province or ministry.
        level: crate::units::UnitLevel,
        /// The unit's province code or ministry code.
        province_or_ministry: &'a str,
    },
    /// Verify a submitted report or return it with a comment.
    ReviewReport,
    /// Approve a verified report (locking it); never by the person who verified it.
    ApproveReport {
        /// Account id of the reviewer who verified it.
        verified_by: Option<i64>,
    },
    /// Start a correcting revision of an approved report.
    ReopenReport,
    /// Publish (freeze) an edition of scores and ranks.
    PublishEdition,
    /// Read the methodology files.
    ReadMethodologies,
    /// Push data from a source system.
    Ingest {
        /// What kind of data.
        capability: Capability,
        /// The `source` value the data carries.
        source: &'a str,
    },
}

/// The outcome of an access decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Nobody is signed in and the action needs someone: 401.
    NeedsSignIn,
    /// Signed in, but not entitled: 403.
    Deny,
}

fn covers_unit(
    role: Role,
    scope: &Scope,
    coverage: &Coverage,
    level: crate::units::UnitLevel,
    owner: &str,
) -> bool {
    use crate::units::UnitLevel;
    match (role, scope, level) {
        (Role::Admin | Role::Reviewer, _, _) => true,
        (
            Role::ProvinceOfficer,
            Scope::Province(_),
            UnitLevel::Province | UnitLevel::District | UnitLevel::Commune,
        ) => coverage.provinces.contains(owner),
        (Role::MinistryOfficer, Scope::Ministry(m), UnitLevel::Ministry) => m == owner,
        _ => false,
    }
}

/// Decides whether `who` may do `what`. The only place access is decided.
pub fn authorize(who: &Principal, what: &Action<'_>) -> Decision {
    use Decision::*;
    if *what == Action::ReadPublic {
        return Allow;
    }
    match who {
        Principal::Anonymous => NeedsSignIn,
        Principal::System {
            sources,
            capabilities,
            ..
        } => match what {
            Action::Ingest { capability, source } => {
                if capabilities.contains(capability) && sources.contains(*source) {
                    Allow
                } else {
                    Deny
                }
            }
            _ => Deny,
        },
        Principal::User {
            role,
            scope,
            coverage,
            ..
        } => {
            let ok = match what {
                Action::ReadPublic | Action::ChangeOwnPassword => true,
                Action::ManageUsers | Action::ManageKeys => *role == Role::Admin,
                Action::ReadAudit => matches!(role, Role::Admin | Role::Reviewer),
                Action::ViewUnitWorkspace {
                    level,
                    province_or_ministry,
                } => covers_unit(*role, scope, coverage, *level, province_or_ministry),
                Action::EditUnitContact {
                    level,
                    province_or_ministry,
                } => {
                    *role != Role::Reviewer
                        && covers_unit(*role, scope, coverage, *level, province_or_ministry)
                }
                Action::ListReports => !matches!(role, Role::TeamLeader),
                Action::ViewReports {
                    level,
                    province_or_ministry,
                } => covers_unit(*role, scope, coverage, *level, province_or_ministry),
                Action::EditReport {
                    level,
                    province_or_ministry,
                } => {
                    matches!(role, Role::ProvinceOfficer | Role::MinistryOfficer)
                        && covers_unit(*role, scope, coverage, *level, province_or_ministry)
                }
                Action::ReviewReport => *role == Role::Reviewer,
                Action::ApproveReport { verified_by } => {
                    matches!(role, Role::Reviewer | Role::Admin)
                        && match who {
                            Principal::User { id, .. } => *verified_by != Some(*id),
                            _ => false,
                        }
                }
                Action::ReopenReport => matches!(role, Role::Reviewer | Role::Admin),
                Action::PublishEdition => *role == Role::Admin,
                Action::ReadMethodologies => matches!(role, Role::Reviewer | Role::Admin),
                Action::Ingest { .. } => false,
            };
            if ok { Allow } else { Deny }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::UnitLevel;

    fn user(role: Role, scope: Scope, provinces: &[&str]) -> Principal {
        Principal::User {
            id: 1,
            email: "a@b.vn".into(),
            role,
            scope,
            coverage: Coverage {
                provinces: provinces.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    #[test]
    fn province_officers_cover_their_lineage_only() {
        let officer = user(
            Role::ProvinceOfficer,
            Scope::Province("24".into()),
            &["24", "27"],
        );
        for p in ["24", "27"] {
            let a = Action::EditUnitContact {
                level: UnitLevel::Province,
                province_or_ministry: p,
            };
            assert_eq!(authorize(&officer, &a), Decision::Allow);
            let c = Action::ViewUnitWorkspace {
                level: UnitLevel::Commune,
                province_or_ministry: p,
            };
            assert_eq!(authorize(&officer, &c), Decision::Allow);
        }
        let other = Action::EditUnitContact {
            level: UnitLevel::Province,
            province_or_ministry: "01",
        };
        assert_eq!(authorize(&officer, &other), Decision::Deny);
        let ministry = Action::EditUnitContact {
            level: UnitLevel::Ministry,
            province_or_ministry: "24",
        };
        assert_eq!(authorize(&officer, &ministry), Decision::Deny);
        assert_eq!(authorize(&officer, &Action::ManageUsers), Decision::Deny);
    }

    #[test]
    fn reports_separate_filling_reviewing_and_approving() {
        let officer = user(
            Role::ProvinceOfficer,
            Scope::Province("24".into()),
            &["24", "27"],
        );
        let reviewer = user(Role::Reviewer, Scope::National, &[]);
        let admin = user(Role::Admin, Scope::National, &[]);
        let edit = |p| Action::EditReport {
            level: UnitLevel::Province,
            province_or_ministry: p,
        };
        assert_eq!(authorize(&officer, &edit("24")), Decision::Allow);
        assert_eq!(authorize(&officer, &edit("01")), Decision::Deny);
        assert_eq!(authorize(&reviewer, &edit("24")), Decision::Deny);
        assert_eq!(authorize(&admin, &edit("24")), Decision::Deny);
        assert_eq!(authorize(&officer, &Action::ReviewReport), Decision::Deny);
        assert_eq!(authorize(&reviewer, &Action::ReviewReport), Decision::Allow);
        let approve = |by| Action::ApproveReport { verified_by: by };
        assert_eq!(authorize(&officer, &approve(Some(7))), Decision::Deny);
        // The reviewer in `user` has id 1: who verified may not also approve.
        assert_eq!(authorize(&reviewer, &approve(Some(1))), Decision::Deny);
        assert_eq!(authorize(&reviewer, &approve(Some(7))), Decision::Allow);
        assert_eq!(authorize(&admin, &approve(Some(7))), Decision::Allow);
        assert_eq!(authorize(&admin, &Action::PublishEdition), Decision::Allow);
        assert_eq!(
            authorize(&reviewer, &Action::PublishEdition),
            Decision::Deny
        );
        assert_eq!(
            authorize(&Principal::Anonymous, &Action::ReviewReport),
            Decision::NeedsSignIn
        );
    }

    #[test]
    fn anonymous_needs_sign_in_and_systems_only_ingest() {
        assert_eq!(
            authorize(&Principal::Anonymous, &Action::ReadAudit),
            Decision::NeedsSignIn
        );
        assert_eq!(
            authorize(&Principal::Anonymous, &Action::ReadPublic),
            Decision::Allow
        );
        let key = Principal::System {
            id: 1,
            name: "dvcqg".into(),
            sources: ["dvcqg".to_string()].into(),
            capabilities: [Capability::IngestDossiers].into(),
        };
        let ok = Action::Ingest {
            capability: Capability::IngestDossiers,
            source: "dvcqg",
        };
        assert_eq!(authorize(&key, &ok), Decision::Allow);
        let other_source = Action::Ingest {
            capability: Capability::IngestDossiers,
            source: "hcc-79",
        };
        assert_eq!(authorize(&key, &other_source), Decision::Deny);
        let other_cap = Action::Ingest {
            capability: Capability::IngestUsage,
            source: "dvcqg",
        };
        assert_eq!(authorize(&key, &other_cap), Decision::Deny);
        assert_eq!(authorize(&key, &Action::ManageUsers), Decision::Deny);
    }

    #[test]
    fn reviewers_read_but_do_not_edit_contacts() {
        let r = user(Role::Reviewer, Scope::National, &[]);
        let a = Action::EditUnitContact {
            level: UnitLevel::Province,
            province_or_ministry: "01",
        };
        assert_eq!(authorize(&r, &a), Decision::Deny);
        assert_eq!(authorize(&r, &Action::ReadAudit), Decision::Allow);
        let admin = user(Role::Admin, Scope::National, &[]);
        assert_eq!(authorize(&admin, &a), Decision::Allow);
    }

    #[test]
    fn scopes_round_trip_and_match_roles() {
        for s in ["national", "province:24", "ministry:BTC", "team:T-1"] {
            assert_eq!(Scope::from_text(s).unwrap().to_text(), s);
        }
        assert!(Scope::from_text("province:2").is_err());
        assert!(Scope::for_role(Role::ProvinceOfficer, Some("BTC")).is_err());
        assert!(Scope::for_role(Role::Admin, Some("24")).is_err());
        assert_eq!(
            Scope::for_role(Role::MinistryOfficer, Some("BTC")).unwrap(),
            Scope::Ministry("BTC".into())
        );
        assert!("root".parse::<Role>().is_err());
    }
}
