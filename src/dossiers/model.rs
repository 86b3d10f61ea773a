//! The dossier's vocabulary: statuses with their national codes, the transition table, dossier
//! and agency codes, identification numbers and lookup PINs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::crypto::{MasterKey, Purpose};

/// A dossier's status. The numbers are the national synchronisation codes (Circular
/// 03/2025/TT-VPCP); the names are the API's. Overdue is never a status: it is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Submitted,
    Received,
    Refused,
    Processing,
    SupplementRequested,
    AwaitingFee,
    Withdrawn,
    Stopped,
    ResultReady,
    Returned,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Submitted,
        Status::Received,
        Status::Refused,
        Status::Processing,
        Status::SupplementRequested,
        Status::AwaitingFee,
        Status::Withdrawn,
        Status::Stopped,
        Status::ResultReady,
        Status::Returned,
    ];

    /// The national synchronisation code.
    pub fn code(self) -> i16 {
        match self {
            Status::Submitted => 1,
            Status::Received => 2,
            Status::Refused => 3,
            Status::Processing => 4,
            Status::SupplementRequested => 5,
            Status::AwaitingFee => 6,
            Status::Withdrawn => 7,
            Status::Stopped => 8,
            Status::ResultReady => 9,
            Status::Returned => 10,
        }
    }

    pub fn from_code(code: i16) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::Received => "received",
            Status::Refused => "refused",
            Status::Processing => "processing",
            Status::SupplementRequested => "supplement_requested",
            Status::AwaitingFee => "awaiting_fee",
            Status::Withdrawn => "withdrawn",
            Status::Stopped => "stopped",
            Status::ResultReady => "result_ready",
            Status::Returned => "returned",
        }
    }

    /// No transition leaves a final status.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Refused | Status::Withdrawn | Status::Stopped | Status::Returned
        )
    }

    /// The clock stops for good: the dossier can no longer be late. A ready result settles the
    /// dossier for the service index even though handing it over (`returned`) comes later.
    pub fn is_settled(self) -> bool {
        self.is_final() || self == Status::ResultReady
    }

    /// Vietnamese label for notifications.
    pub fn label_vi(self) -> &'static str {
        match self {
            Status::Submitted => "Đã nộp trực tuyến",
            Status::Received => "Đã tiếp nhận",
            Status::Refused => "Từ chối tiếp nhận",
            Status::Processing => "Đang giải quyết",
            Status::SupplementRequested => "Yêu cầu bổ sung hồ sơ",
            Status::AwaitingFee => "Chờ nộp phí, lệ phí",
            Status::Withdrawn => "Đã rút hồ sơ",
            Status::Stopped => "Dừng xử lý",
            Status::ResultReady => "Đã có kết quả",
            Status::Returned => "Đã trả kết quả",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Citizen,
    Agency,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Citizen => "citizen",
            Actor::Agency => "agency",
        }
    }
}

/// One allowed move: `from` → `to`, by `by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
    pub by: Actor,
}

const fn t(from: Status, to: Status, by: Actor) -> Transition {
    Transition { from, to, by }
}

use Actor::{Agency as A, Citizen as C};
use Status::*;

/// Every allowed transition (Decree 118/2025/NĐ-CP). Anything not listed is refused. Withdrawal
/// (by the citizen, before a result) and stopping (by the agency) are spelled out for each
/// status they leave so that the table alone is the rule. The citizen's answer to a supplement
/// request is not a row: it returns the dossier to the status it was in before the request.
pub const TRANSITIONS: &[Transition] = &[
    t(Submitted, Received, A),
    t(Submitted, Refused, A),
    t(Submitted, SupplementRequested, A),
    t(Received, Processing, A),
    t(Processing, SupplementRequested, A),
    t(SupplementRequested, Processing, A),
    t(Processing, AwaitingFee, A),
    t(AwaitingFee, Processing, A),
    t(Processing, ResultReady, A),
    t(ResultReady, Returned, A),
    t(Submitted, Withdrawn, C),
    t(Received, Withdrawn, C),
    t(Processing, Withdrawn, C),
    t(SupplementRequested, Withdrawn, C),
    t(AwaitingFee, Withdrawn, C),
    t(Submitted, Stopped, A),
    t(Received, Stopped, A),
    t(Processing, Stopped, A),
    t(SupplementRequested, Stopped, A),
    t(AwaitingFee, Stopped, A),
    t(ResultReady, Stopped, A),
];

/// The statuses `by` may move a dossier to from `from`, in table order.
pub fn allowed_targets(from: Status, by: Actor) -> Vec<Status> {
    TRANSITIONS
        .iter()
        .filter(|t| t.from == from && t.by == by)
        .map(|t| t.to)
        .collect()
}

/// A refused transition, with what would have been allowed (the API answers 409 with them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a dossier in status {from} cannot move to {to}")]
pub struct TransitionRefused {
    pub from: Status,
    pub to: Status,
    pub allowed: Vec<Status>,
}

/// Checks one transition against the table.
pub fn check_transition(from: Status, to: Status, by: Actor) -> Result<(), TransitionRefused> {
    let allowed = allowed_targets(from, by);
    if allowed.contains(&to) {
        Ok(())
    } else {
        Err(TransitionRefused { from, to, allowed })
    }
}

/// An agency's electronic ID code, `XXX.YY.ZZ.Hnn` (Hnn = the province).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("an agency code has the form XXX.YY.ZZ.Hnn (digits, H and two digits)")]
    Agency,
    #[error("a dossier code has the form {{agency code}}-{{yyMMdd}}-{{NNNN}}")]
    Dossier,
}

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

impl AgencyCode {
    pub fn parse(value: &str) -> Result<Self, CodeError> {
        let parts: Vec<&str> = value.split('.').collect();
        let ok = match parts.as_slice() {
            [x, y, z, h] => {
                all_digits(x, 3)
                    && all_digits(y, 2)
                    && all_digits(z, 2)
                    && h.strip_prefix('H').is_some_and(|n| all_digits(n, 2))
            }
            _ => false,
        };
        if ok {
            Ok(AgencyCode(value.to_string()))
        } else {
            Err(CodeError::Agency)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AgencyCode {
    type Error = CodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        AgencyCode::parse(&value)
    }
}

impl From<AgencyCode> for String {
    fn from(code: AgencyCode) -> String {
        code.0
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The code printed on the receipt: `{agency code}-{yyMMdd}-{NNNN}`, the day of registration in
/// Vietnam's time and that agency's sequence number of the day (four digits, more past 9999).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DossierCode {
    pub agency: AgencyCode,
    pub day: Date,
    pub seq: u32,
}

impl DossierCode {
    pub fn new(agency: AgencyCode, day: Date, seq: u32) -> Self {
        DossierCode { agency, day, seq }
    }

    pub fn parse(value: &str) -> Result<Self, CodeError> {
        let mut parts = value.splitn(3, '-');
        let (Some(agency), Some(day), Some(seq)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CodeError::Dossier);
        };
        let agency = AgencyCode::parse(agency).map_err(|_| CodeError::Dossier)?;
        if !all_digits(day, 6)
            || seq.len() < 4
            || seq.len() > 9
            || !seq.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(CodeError::Dossier);
        }
        let number = |range: std::ops::Range<usize>| day[range].parse::<u8>().ok();
        let (Some(yy), Some(mm), Some(dd)) = (number(0..2), number(2..4), number(4..6)) else {
            return Err(CodeError::Dossier);
        };
        let month = time::Month::try_from(mm).map_err(|_| CodeError::Dossier)?;
        let day = Date::from_calendar_date(2000 + i32::from(yy), month, dd)
            .map_err(|_| CodeError::Dossier)?;
        let seq: u32 = seq.parse().map_err(|_| CodeError::Dossier)?;
        // A longer sequence than needed would give one dossier two spellings.
        if seq == 0 || (seq > 9999) != (value.len() - value.rfind('-').unwrap_or(0) - 1 > 4) {
            return Err(CodeError::Dossier);
        }
        Ok(DossierCode { agency, day, seq })
    }
}

impl fmt::Display for DossierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{:02}{:02}{:02}-{:04}",
            self.agency,
            self.day.year() % 100,
            u8::from(self.day.month()),
            self.day.day(),
            self.seq
        )
    }
}

/// Checks a 12-digit personal identification number (căn cước / định danh cá nhân): exactly 12
/// ASCII digits whose first three name a province code (001–096).
pub fn valid_id_number(value: &str) -> bool {
    all_digits(value, 12)
        && value[..3]
            .parse::<u16>()
            .is_ok_and(|province| (1..=96).contains(&province))
}

/// The keyed hash under which an identification number is matched to a citizen: the same HMAC
/// the sign-in stores in `citizens.id_number_hmac`, so the two meet without the number.
pub fn id_number_hmac(master: &MasterKey, id_number: &str) -> anyhow::Result<Vec<u8>> {
    master
        .mac(Purpose::IdNumber, id_number.as_bytes())
        .map_err(|_| anyhow::anyhow!("hashing the identification number"))
}

/// Shows the initial of each word of a name: enough for the applicant to recognise it on a
/// timeline, not enough to identify them.
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|word| word.chars().next())
        .map(|initial| format!("{initial}***"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Number of digits of a lookup PIN: 10^8 guesses against a per-address rate limit.
pub const PIN_DIGITS: usize = 8;

/// A fresh lookup PIN for a receipt, uniformly distributed (rejection of the biased tail).
pub fn new_lookup_pin() -> String {
    let bound = 10u64.pow(PIN_DIGITS as u32);
    loop {
        let bytes = crate::crypto::random_bytes(8);
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes);
        let value = u64::from_le_bytes(word);
        if value < u64::MAX - u64::MAX % bound {
            return format!("{:0width$}", value % bound, width = PIN_DIGITS);
        }
    }
}

/// Keyed hash of a lookup PIN, bound to its dossier code so a hash cannot be moved to another
/// dossier; keyed, because the receipt carries the hash and eight digits are quickly guessed.
pub fn lookup_pin_hash(master: &MasterKey, code: &str, pin: &str) -> anyhow::Result<Vec<u8>> {
    master
        .mac(
            Purpose::LookupPin,
            format!("{code}\u{0}{}", pin.trim()).as_bytes(),
        )
        .map_err(|_| anyhow::anyhow!("hashing the lookup PIN"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn statuses_round_trip_their_names_and_national_codes() {
        let table = [
            ("submitted", 1, false),
            ("received", 2, false),
            ("refused", 3, true),
            ("processing", 4, false),
            ("supplement_requested", 5, false),
            ("awaiting_fee", 6, false),
            ("withdrawn", 7, true),
            ("stopped", 8, true),
            ("result_ready", 9, false),
            ("returned", 10, true),
        ];
        for (name, code, is_final) in table {
            let status: Status = name.parse().unwrap();
            assert_eq!(status.to_string(), name);
            assert_eq!(status.code(), code, "{name}");
            assert_eq!(Status::from_code(code), Some(status));
            assert_eq!(status.is_final(), is_final, "{name}");
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(name)
            );
        }
        assert!("overdue".parse::<Status>().is_err());
        assert_eq!(Status::from_code(11), None);
    }

    #[test]
    fn allowed_targets_follow_the_table() {
        let table: &[(Status, Actor, &[Status])] = &[
            (
                Submitted,
                A,
                &[Received, Refused, SupplementRequested, Stopped],
            ),
            (Submitted, C, &[Withdrawn]),
            (Received, A, &[Processing, Stopped]),
            (
                Processing,
                A,
                &[SupplementRequested, AwaitingFee, ResultReady, Stopped],
            ),
            (SupplementRequested, A, &[Processing, Stopped]),
            (AwaitingFee, A, &[Processing, Stopped]),
            (ResultReady, A, &[Returned, Stopped]),
            (ResultReady, C, &[]),
            (Processing, C, &[Withdrawn]),
            (Refused, A, &[]),
            (Withdrawn, C, &[]),
            (Stopped, A, &[]),
            (Returned, A, &[]),
        ];
        for (from, by, expected) in table {
            assert_eq!(&allowed_targets(*from, *by), expected, "{from} by {by:?}");
        }
    }

    #[test]
    fn final_statuses_have_no_way_out_and_others_can_be_withdrawn_before_a_result_and_stopped() {
        for status in Status::ALL {
            let any =
                !allowed_targets(status, A).is_empty() || !allowed_targets(status, C).is_empty();
            assert_eq!(any, !status.is_final(), "{status}");
            if !status.is_final() {
                // The citizen withdraws before a result, never once it is ready.
                assert_eq!(
                    check_transition(status, Withdrawn, C).is_ok(),
                    !status.is_settled(),
                    "{status}"
                );
                assert!(check_transition(status, Stopped, A).is_ok());
                assert!(check_transition(status, Withdrawn, A).is_err());
            }
        }
    }

    #[test]
    fn a_refused_transition_lists_the_allowed_ones() {
        let refused = check_transition(Received, ResultReady, A).unwrap_err();
        assert_eq!(refused.allowed, vec![Processing, Stopped]);
        assert_eq!(refused.from, Received);
        assert_eq!(refused.to, ResultReady);
    }

    #[test]
    fn agency_codes_are_checked() {
        let table = [
            ("000.00.12.H12", true),
            ("001.05.31.H15", true),
            ("000.00.12.h12", false),
            ("000.00.12.H1", false),
            ("00.00.12.H12", false),
            ("000.00.12", false),
            ("000.00.12.H12.1", false),
            ("000.0a.12.H12", false),
            ("", false),
        ];
        for (code, ok) in table {
            assert_eq!(AgencyCode::parse(code).is_ok(), ok, "{code}");
        }
    }

    #[test]
    fn dossier_codes_parse_and_print() {
        let code = DossierCode::parse("000.00.12.H12-250407-0042").unwrap();
        assert_eq!(code.agency.as_str(), "000.00.12.H12");
        assert_eq!(code.day, date!(2025 - 04 - 07));
        assert_eq!(code.seq, 42);
        assert_eq!(code.to_string(), "000.00.12.H12-250407-0042");
        let big = DossierCode::new(code.agency.clone(), code.day, 12345);
        assert_eq!(big.to_string(), "000.00.12.H12-250407-12345");
        assert_eq!(DossierCode::parse(&big.to_string()).unwrap(), big);
    }

    #[test]
    fn malformed_dossier_codes_are_rejected() {
        for bad in [
            "",
            "000.00.12.H12",
            "000.00.12.H12-250407",
            "000.00.12.H12-250407-042",
            "000.00.12.H12-250407-0000",
            "000.00.12.H12-250407-00042",
            "000.00.12.H12-251307-0042",
            "000.00.12.H12-250230-0042",
            "000.00.12.H12-25047-00042",
            "000.00.12.X12-250407-0042",
            "000.00.12.H12-250407-00a2",
            "000.00.12.H12-250407-0042-1",
        ] {
            assert!(DossierCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identification_numbers_are_twelve_digits_with_a_province_prefix() {
        let table = [
            ("054190001234", true),
            ("001090000001", true),
            ("096999999999", true),
            ("000190001234", false),
            ("097190001234", false),
            ("05419000123", false),
            ("0541900012345", false),
            ("05419000123a", false),
            ("０５４１９０００１２３４", false),
            ("", false),
        ];
        for (value, ok) in table {
            assert_eq!(valid_id_number(value), ok, "{value}");
        }
    }

    #[test]
    fn names_are_masked_to_initials() {
        assert_eq!(mask_name("Nguyễn Văn An"), "N*** V*** A***");
        assert_eq!(mask_name("  Ê  Đê "), "Ê*** Đ***");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn lookup_pins_are_digits_and_their_hash_is_bound_to_the_code() {
        let pin = new_lookup_pin();
        assert_eq!(pin.len(), PIN_DIGITS);
        assert!(pin.bytes().all(|b| b.is_ascii_digit()));
        let key = MasterKey::new([7; 32]);
        let h = lookup_pin_hash(&key, "A-1", &pin).unwrap();
        assert_eq!(h, lookup_pin_hash(&key, "A-1", &pin).unwrap());
        assert_ne!(h, lookup_pin_hash(&key, "A-2", &pin).unwrap());
    }
}
