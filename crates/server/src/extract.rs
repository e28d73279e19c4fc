//! Request body parsing that answers in the contract's error shape: a syntax error says where
//! (line, column), a wrong or unknown field says which (`field`), a wrong content type or an
//! oversized body says so.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, StatusCode},
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body; use instead of `axum::Json` for every request body.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is too large",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    rejection.body_text(),
                )
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// Parses JSON bytes into `T`, naming the failing field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(deserializer);
    result.map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    format!("the body is not valid JSON: {inner}"),
                )
            }
            _ => {
                let field = if path == "." { None } else { Some(path) };
                let message = match &field {
                    Some(field) => format!("{field}: {inner}"),
                    None => inner.to_string(),
                };
                let mut e =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message);
                e.field = field;
                e
            }
        }
    })
}

/// An object id from the path. An id that does not parse names no object, so it is a 404
/// like any other id the caller cannot see.
pub struct Id<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Id<T>
where
    T: std::str::FromStr + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found())?;
        raw.parse().map(Id).map_err(|_| ApiError::not_found())
    }
}

/// Deserialises a field that distinguishes "absent" (`None`) from "null" (`Some(None)`),
/// for updates that can clear a value.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Query parameters, refused in the contract's error shape.
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query).map(Query).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("query parameters: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        capacity: u32,
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = parse::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        assert!(e.message.contains("line 1"), "{}", e.message);
    }

    #[test]
    fn data_errors_name_the_field() {
        let e = parse::<Body>(br#"{"name": "x", "inner": {"capacity": "many"}}"#).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_body", Some("inner.capacity"))
        );
        let e = parse::<Body>(br#"{"name": "x", "colour": 1}"#).unwrap_err();
        assert_eq!(e.code, "invalid_body");
        assert!(
            e.message.contains("unknown field `colour`"),
            "{}",
            e.message
        );
        assert_eq!(e.field.as_deref(), Some("colour"));
        let e = parse::<Body>(br#"{}"#).unwrap_err();
        assert!(e.message.contains("missing field `name`"), "{}", e.message);
    }
}
