//! Strict query-string parsing: every parameter is named in its error, repeated or
//! unknown parameters are refused rather than silently ignored.

use dxhub_core::Date;
use dxhub_core::date::{parse_date, today_in_vietnam};
use dxhub_core::units::{UnitCode, UnitLevel};

use crate::error::ApiError;

/// The parameters of one request, consumed one by one.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Splits a raw query string (`None` = no query).
    pub fn parse(raw: Option<&str>) -> Params {
        let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params { pairs }
    }

    /// Takes the single value of `name`, if given; refuses a repeated parameter.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut found = None;
        let mut rest = Vec::with_capacity(self.pairs.len());
        for (k, v) in self.pairs.drain(..) {
            if k == name {
                if found.is_some() {
                    return Err(ApiError::bad(name, "given more than once"));
                }
                found = Some(v);
            } else {
                rest.push((k, v));
            }
        }
        self.pairs = rest;
        Ok(found)
    }

    /// The `at` date, today in Vietnam when absent.
    pub fn at(&mut self) -> Result<Date, ApiError> {
        match self.take("at")? {
            None => Ok(today_in_vietnam()),
            Some(s) => parse_date(&s).map_err(|e| ApiError::bad("at", e.to_string())),
        }
    }

    /// An optional unit level.
    pub fn level(&mut self) -> Result<Option<UnitLevel>, ApiError> {
        self.take("level")?
            .map(|s| {
                s.parse().map_err(|e: dxhub_core::units::UnknownLevel| {
                    ApiError::bad("level", e.to_string())
                })
            })
            .transpose()
    }

    /// An optional unit code in parameter `name`.
    pub fn code(&mut self, name: &str) -> Result<Option<UnitCode>, ApiError> {
        self.take(name)?
            .map(|s| UnitCode::parse(&s).map_err(|e| ApiError::bad(name, e.to_string())))
            .transpose()
    }

    /// Fails on the first parameter nobody took.
    pub fn finish(self, known: &[&str]) -> Result<(), ApiError> {
        match self.pairs.into_iter().next() {
            None => Ok(()),
            Some((k, _)) => Err(ApiError::bad(
                &k,
                format!(
                    "unknown parameter; this endpoint accepts {}",
                    known.join(", ")
                ),
            )),
        }
    }
}

/// Checks a unit code taken from the path.
pub fn path_code(code: &str) -> Result<UnitCode, ApiError> {
    UnitCode::parse(code).map_err(|e| ApiError::bad("code", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_repeats_and_unknowns() {
        let mut p = Params::parse(Some("at=2025-07-01&at=2025-07-02"));
        assert!(p.at().is_err());
        let mut p = Params::parse(Some("levle=province"));
        assert!(p.level().unwrap().is_none());
        let e = p.finish(&["level"]).unwrap_err();
        assert!(e.to_string().contains("levle"));
    }

    #[test]
    fn names_the_parameter() {
        let mut p = Params::parse(Some("at=2025-13-01"));
        match p.at().unwrap_err() {
            ApiError::BadParameter { parameter, reason } => {
                assert_eq!(parameter, "at");
                assert!(reason.contains("YYYY-MM-DD"));
            }
            other => panic!("{other:?}"),
        }
    }
}
