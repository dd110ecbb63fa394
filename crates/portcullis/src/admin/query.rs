//! `list-users`' search, filter, sort and page, checked against fixed lists: a column or operator
//! that is not listed is an error, never an empty list.

use serde::Deserialize;

use crate::error::{ApiError, ApiResult, ErrorCode};

/// At most this many users per page; the default when `limit` is not given.
pub const MAX_LIMIT: i64 = 1000;
pub const DEFAULT_LIMIT: i64 = 100;

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchField {
    Email,
    Name,
}

impl SearchField {
    pub fn column(self) -> &'static str {
        match self {
            SearchField::Email => "u.email",
            SearchField::Name => "u.name",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TextMatch {
    Contains,
    StartsWith,
    EndsWith,
}

impl TextMatch {
    /// A LIKE pattern (with `\` escaping) for `value`.
    pub fn pattern(self, value: &str) -> String {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        match self {
            TextMatch::Contains => format!("%{escaped}%"),
            TextMatch::StartsWith => format!("{escaped}%"),
            TextMatch::EndsWith => format!("%{escaped}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    Email,
    Name,
    Role,
}

impl SortField {
    pub fn column(self) -> &'static str {
        match self {
            SortField::CreatedAt => "u.created_at",
            SortField::UpdatedAt => "u.updated_at",
            SortField::Email => "u.email",
            SortField::Name => "u.name",
            SortField::Role => "u.role",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FilterField {
    Id,
    Email,
    Name,
    Role,
    Banned,
    EmailVerified,
    TwoFactorEnabled,
    CreatedAt,
    UpdatedAt,
}

/// What kind of value a filterable column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Flag,
    Time,
}

impl FilterField {
    pub fn column(self) -> &'static str {
        match self {
            FilterField::Id => "u.id",
            FilterField::Email => "u.email",
            FilterField::Name => "u.name",
            FilterField::Role => "u.role",
            FilterField::Banned => "u.banned",
            FilterField::EmailVerified => "u.email_verified",
            FilterField::TwoFactorEnabled => "u.two_factor_enabled",
            FilterField::CreatedAt => "u.created_at",
            FilterField::UpdatedAt => "u.updated_at",
        }
    }

    fn kind(self) -> Kind {
        match self {
            FilterField::Id | FilterField::Email | FilterField::Name | FilterField::Role => {
                Kind::Text
            }
            FilterField::Banned | FilterField::EmailVerified | FilterField::TwoFactorEnabled => {
                Kind::Flag
            }
            FilterField::CreatedAt | FilterField::UpdatedAt => Kind::Time,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterOperator {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    Contains,
    StartsWith,
    EndsWith,
}

impl FilterOperator {
    pub fn sql(self) -> &'static str {
        match self {
            FilterOperator::Eq => "=",
            FilterOperator::Ne => "<>",
            FilterOperator::Lt => "<",
            FilterOperator::Lte => "<=",
            FilterOperator::Gt => ">",
            FilterOperator::Gte => ">=",
            FilterOperator::Contains | FilterOperator::StartsWith | FilterOperator::EndsWith => {
                "LIKE"
            }
        }
    }

    /// The text match this operator is, if it is one.
    pub fn pattern(self) -> Option<TextMatch> {
        match self {
            FilterOperator::Contains => Some(TextMatch::Contains),
            FilterOperator::StartsWith => Some(TextMatch::StartsWith),
            FilterOperator::EndsWith => Some(TextMatch::EndsWith),
            _ => None,
        }
    }

    /// The value to bind: a LIKE pattern for the text matches.
    pub fn bound(self, value: &Value) -> Value {
        match (self.pattern(), value) {
            (Some(how), Value::Text(text)) => Value::Text(how.pattern(&text.to_lowercase())),
            _ => value.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
}

pub struct Search {
    pub field: SearchField,
    pub how: TextMatch,
    pub value: String,
}

pub struct Filter {
    pub field: FilterField,
    pub op: FilterOperator,
    pub value: Value,
}

pub struct ListQuery {
    pub search: Option<Search>,
    pub filter: Option<Filter>,
    pub sort: (SortField, Direction),
    pub limit: i64,
    pub offset: i64,
}

/// The request's parameters, as they arrive.
pub struct Asked {
    pub search_value: Option<String>,
    pub search_field: Option<SearchField>,
    pub search_operator: Option<TextMatch>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub sort_by: Option<SortField>,
    pub sort_direction: Option<Direction>,
    pub filter_field: Option<FilterField>,
    pub filter_value: Option<String>,
    pub filter_operator: Option<FilterOperator>,
}

fn invalid(message: String) -> ApiError {
    ApiError::from(ErrorCode::ValidationError).with_message(message)
}

impl ListQuery {
    pub fn from_asked(asked: Asked) -> ApiResult<Self> {
        let limit = asked.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(format!("limit must be 1 to {MAX_LIMIT}")));
        }
        let offset = asked.offset.unwrap_or(0);
        if offset < 0 {
            return Err(invalid("offset must not be negative".to_owned()));
        }
        let search = asked
            .search_value
            .filter(|v| !v.is_empty())
            .map(|value| Search {
                field: asked.search_field.unwrap_or(SearchField::Email),
                how: asked.search_operator.unwrap_or(TextMatch::Contains),
                value,
            });
        let filter = match asked.filter_value {
            Some(raw) => {
                let field = asked.filter_field.unwrap_or(FilterField::Email);
                let op = asked.filter_operator.unwrap_or(FilterOperator::Eq);
                Some(Filter {
                    field,
                    op,
                    value: filter_value(field, op, &raw)?,
                })
            }
            None if asked.filter_field.is_some() || asked.filter_operator.is_some() => {
                return Err(invalid(
                    "filterField and filterOperator need a filterValue".to_owned(),
                ))
            }
            None => None,
        };
        Ok(Self {
            search,
            filter,
            sort: (
                asked.sort_by.unwrap_or(SortField::CreatedAt),
                asked.sort_direction.unwrap_or(Direction::Asc),
            ),
            limit,
            offset,
        })
    }
}

/// A time given as unix milliseconds or RFC 3339 (`2026-01-31T12:00:00Z`).
pub fn unix_ms(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().or_else(|| {
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
    })
}

/// A filter's value, read as its column's kind; an operator that makes no sense for the column is
/// an error.
fn filter_value(field: FilterField, op: FilterOperator, raw: &str) -> ApiResult<Value> {
    match field.kind() {
        Kind::Text => Ok(Value::Text(raw.to_owned())),
        Kind::Flag => {
            if !matches!(op, FilterOperator::Eq | FilterOperator::Ne) {
                return Err(invalid(format!(
                    "filterOperator for {field:?} must be eq or ne"
                )));
            }
            match raw {
                "true" | "1" => Ok(Value::Int(1)),
                "false" | "0" => Ok(Value::Int(0)),
                _ => Err(invalid(format!(
                    "filterValue for {field:?} must be true or false"
                ))),
            }
        }
        Kind::Time => {
            if op.pattern().is_some() {
                return Err(invalid(format!(
                    "filterOperator for {field:?} must be a comparison"
                )));
            }
            unix_ms(raw).map(Value::Int).ok_or_else(|| {
                invalid(format!(
                    "filterValue for {field:?} must be unix milliseconds or an RFC 3339 time"
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_wildcards() {
        assert_eq!(TextMatch::Contains.pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
        assert_eq!(TextMatch::StartsWith.pattern("ad"), "ad%");
        assert_eq!(TextMatch::EndsWith.pattern("ad"), "%ad");
    }

    #[test]
    fn filters_are_typed_by_column() {
        assert_eq!(
            filter_value(FilterField::Banned, FilterOperator::Eq, "true").unwrap(),
            Value::Int(1)
        );
        assert!(filter_value(FilterField::Banned, FilterOperator::Gt, "true").is_err());
        assert!(filter_value(FilterField::Banned, FilterOperator::Eq, "maybe").is_err());
        assert_eq!(
            filter_value(
                FilterField::CreatedAt,
                FilterOperator::Gt,
                "1970-01-01T00:00:01Z"
            )
            .unwrap(),
            Value::Int(1000)
        );
        assert!(filter_value(FilterField::CreatedAt, FilterOperator::Contains, "1").is_err());
    }
}
