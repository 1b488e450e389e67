//! What the CLI prints: results as text or JSON (`--json`), tables with a
//! header and aligned columns, times as RFC 3339 UTC, and errors.
//!
//! Results go to stdout, errors to stderr. With `--json`, a result is one
//! JSON value and an error is one object in the style of RFC 6749 §5.2,
//! `{"error": CODE, "error_description": TEXT}`, where CODE is one of
//! [`ErrorCode`]; the exit status is non-zero either way (2 for a usage
//! error, as clap's own, 1 otherwise). Times stay Unix seconds in JSON, so
//! scripts need no date parsing, and read as RFC 3339 (§5.6) in text.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::service::accounts::AccountError;
use crate::service::admin::AdminError;

/// Where results go and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json` was given.
    pub json: bool,
}

impl Output {
    /// Prints `value` with `--json`, else `human`.
    pub fn print(self, value: Value, human: impl std::fmt::Display) {
        if self.json {
            println!("{value}");
        } else {
            println!("{human}");
        }
    }

    /// Prints a listing: `items` with `--json`, else `table`, or `empty`
    /// when there is nothing to list.
    pub fn print_list(self, items: Vec<Value>, table: &Table, empty: &str) {
        if self.json {
            println!("{}", Value::Array(items));
        } else if table.is_empty() {
            println!("{empty}");
        } else {
            print!("{table}");
        }
    }
}

/// The columns of `session list`, on the database and through `--server`.
pub const SESSION_COLUMNS: &[&str] = &[
    "SESSION",
    "USER",
    "CLIENT",
    "DEVICE",
    "CREATED",
    "LAST USED",
    "IP",
    "USER AGENT",
];

/// A text table: a header, then one line per row, each column as wide as
/// its widest cell and separated by two spaces; the last column is not
/// padded (it may be long, like a user agent). A missing value is `-`.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new(header: &[&'static str]) -> Self {
        Self {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; cells beyond the header's are dropped, missing ones
    /// shown as `-`.
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        let mut cells: Vec<String> = cells
            .into_iter()
            .take(self.header.len())
            .map(|c| if c.is_empty() { "-".to_owned() } else { c })
            .collect();
        cells.resize(self.header.len(), "-".to_owned());
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let header = self.header.iter().map(|h| (*h).to_owned()).collect();
        for line in std::iter::once(&header).chain(&self.rows) {
            let mut text = String::new();
            for (i, (cell, w)) in line.iter().zip(&widths).enumerate() {
                if i + 1 == line.len() {
                    text.push_str(cell);
                } else {
                    let _ = write!(text, "{cell}{:pad$}  ", "", pad = w - width(cell));
                }
            }
            writeln!(f, "{}", text.trim_end())?;
        }
        Ok(())
    }
}

/// An optional text cell: the value or `-`.
pub fn cell(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// Unix seconds as an RFC 3339 (§5.6) UTC time, `2026-12-02T04:37:04Z`.
pub fn time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An optional time cell: the time or `-`.
pub fn time_cell(unix: Option<i64>) -> String {
    unix.map_or_else(|| "-".to_owned(), time)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's
/// `civil_from_days`, exact for every `i64` day a Unix time can name).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from 1 March
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The `error` code of a failed command in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The command line did not parse (clap's usage error).
    Usage,
    /// An input broke a rule (slug, URI, password policy, limits).
    InvalidInput,
    /// The thing to create exists already.
    Conflict,
    /// A tenant, user, session... named on the command line does not exist.
    NotFound,
    /// Anything else: configuration, database, key file.
    Failed,
}

impl ErrorCode {
    /// The code as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Usage => "usage",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Conflict => "conflict",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Failed => "failed",
        }
    }

    /// The code of `err`, from the first error in its chain that has one.
    pub fn of(err: &anyhow::Error) -> Self {
        for cause in err.chain() {
            if let Some(admin) = cause.downcast_ref::<AdminError>() {
                return match admin {
                    AdminError::Invalid(_)
                    | AdminError::Password(_)
                    | AdminError::WeakPassword(_)
                    | AdminError::Policy(_)
                    | AdminError::Throttle(_)
                    | AdminError::Account(
                        AccountError::Invalid(_) | AccountError::WeakPassword(_),
                    ) => ErrorCode::InvalidInput,
                    AdminError::Conflict(_)
                    | AdminError::Stale(_)
                    | AdminError::Account(AccountError::Exists(_)) => ErrorCode::Conflict,
                    AdminError::NotFound(_) => ErrorCode::NotFound,
                    AdminError::Key(_)
                    | AdminError::Account(_)
                    | AdminError::Store(_)
                    | AdminError::Crypto(_) => ErrorCode::Failed,
                };
            }
            if cause
                .downcast_ref::<holdfast_core::throttle::PolicyError>()
                .is_some()
                || cause
                    .downcast_ref::<holdfast_core::ValidationError>()
                    .is_some()
            {
                return ErrorCode::InvalidInput;
            }
        }
        ErrorCode::Failed
    }
}

/// Prints a failed command's error to stderr: `error: TEXT` (with its
/// causes), or the JSON object with `--json`.
pub fn print_error(json_mode: bool, code: ErrorCode, description: &str) {
    if json_mode {
        eprintln!(
            "{}",
            json!({"error": code.as_str(), "error_description": description})
        );
    } else {
        eprintln!("error: {description}");
    }
}

/// `key value` lines of a JSON object, for `show` commands.
pub fn lines_of(value: &Value) -> String {
    value
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(k, v)| format!("{k:<24} {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_s5_6_times_are_utc_with_a_z() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(951_825_599), "2000-02-29T11:59:59Z");
        assert_eq!(time(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(time(1_798_761_600), "2027-01-01T00:00:00Z");
        assert_eq!(time(-1), "1969-12-31T23:59:59Z");
        assert_eq!(time(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(time_cell(None), "-");
    }

    #[test]
    fn table_columns_align_under_a_header() {
        let mut table = Table::new(&["SESSION", "USER", "USER AGENT"]);
        table.row(["s-1".to_owned(), "alice".to_owned(), "curl/8".to_owned()]);
        table.row(["s-22222222".to_owned(), String::new(), "x".to_owned()]);
        assert_eq!(
            table.to_string(),
            "SESSION     USER   USER AGENT\n\
             s-1         alice  curl/8\n\
             s-22222222  -      x\n"
        );
        assert!(Table::new(&["A"]).is_empty());
    }

    #[test]
    fn error_codes_follow_the_admin_error() {
        let not_found = anyhow::Error::from(AdminError::NotFound("no tenant".into()));
        assert_eq!(ErrorCode::of(&not_found), ErrorCode::NotFound);
        let wrapped = not_found.context("while listing");
        assert_eq!(ErrorCode::of(&wrapped), ErrorCode::NotFound);
        let conflict = anyhow::Error::from(AdminError::Conflict("taken".into()));
        assert_eq!(ErrorCode::of(&conflict).as_str(), "conflict");
        assert_eq!(
            ErrorCode::of(&anyhow::anyhow!("disk full")),
            ErrorCode::Failed
        );
    }
}
