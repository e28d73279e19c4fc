//! Stored attachments, served to operators of the account whose messages hold them. Always
//! as a download (`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP): a file a
//! customer sent must never run as a page in the operator's browser.

use axum::{
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_channels::MAX_MEDIA_BYTES;
use switchboard_store::StoredAttachment;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::Query,
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        // Files are bigger than API bodies: the channels' own limit applies here.
        .layer(DefaultBodyLimit::max(MAX_MEDIA_BYTES))
        .merge(OpenApiRouter::new().routes(routes!(get)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// The file's name as the customer should see it.
    pub name: Option<String>,
}

/// A stored upload, to attach to a reply by its `sha256`.
#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    pub sha256: String,
    pub size: u64,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
}

/// Uploads a file (the raw body, with its `Content-Type`) for a reply, up to 20 MB.
#[utoipa::path(post, path = "/attachments", tag = "conversations", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Uploaded), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload(
    caller: Caller,
    State(state): State<AppState>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, axum::Json<Uploaded>), ApiError> {
    if body.is_empty() {
        return Err(ApiError::validation("body", "the file is empty"));
    }
    let mime_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty() && m.len() <= 100 && m.contains('/'));
    let file_name = params
        .name
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|n| !n.trim().is_empty());
    let sha256 = state.files.put(&body).await.map_err(|e| {
        tracing::error!(error = %e, "cannot store an upload");
        ApiError::internal()
    })?;
    let upload = StoredAttachment {
        sha256,
        size: body.len() as u64,
        file_name,
        mime_type,
    };
    state.store.record_upload(caller.account(), &upload).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Uploaded {
            sha256: upload.sha256,
            size: upload.size,
            file_name: upload.file_name,
            mime_type: upload.mime_type,
        }),
    ))
}

/// Types shown inline by browsers without running anything; everything else is a download.
fn safe_type(mime: Option<&str>) -> &str {
    match mime {
        Some(m)
            if ["image/", "audio/", "video/"]
                .iter()
                .any(|p| m.starts_with(p))
                && !m.contains("svg") =>
        {
            m
        }
        Some("application/pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// `attachment; filename="..."; filename*=UTF-8''...` with the name made safe for a header.
fn disposition(name: Option<&str>) -> String {
    let name = name.unwrap_or("attachment");
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A stored attachment by its SHA-256 (from a message's `content.attachments[].sha256`, or an
/// upload of the caller's account).
#[utoipa::path(get, path = "/attachments/{id}", tag = "conversations", params(("id" = String, Path, description = "SHA-256, hex")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 404, body = ErrorBody)))]
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    if state.files.path(&id).is_none() {
        return Err(ApiError::not_found());
    }
    let stored = state.store.usable_file(caller.account(), &id).await?;
    let bytes = state.files.get(&stored.sha256).await.map_err(|e| {
        tracing::error!(error = %e, sha256 = %stored.sha256, "a recorded attachment is missing on disk");
        ApiError::not_found()
    })?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    let content_type = safe_type(stored.mime_type.as_deref());
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition(stored.file_name.as_deref())) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_harmless_types_are_shown_inline() {
        assert_eq!(safe_type(Some("image/jpeg")), "image/jpeg");
        assert_eq!(safe_type(Some("image/svg+xml")), "application/octet-stream");
        assert_eq!(safe_type(Some("text/html")), "application/octet-stream");
        assert_eq!(safe_type(None), "application/octet-stream");
    }

    #[test]
    fn file_names_cannot_break_the_header() {
        let value = disposition(Some("чек \"1\".pdf\r\nX: y"));
        assert!(!value.contains('\r') && !value.contains('\n'));
        assert!(
            value
                .starts_with("attachment; filename=\"___ _1_.pdf__X_ y\"; filename*=UTF-8''%D1%87"),
            "{value}"
        );
    }
}

/// Links to stored files that a channel fetches by URL (Viber takes media only so): signed
/// with a key derived from the server's, valid for a day, naming one file. Nothing else is
/// reachable without a login.
pub(super) fn link_router() -> axum::Router<AppState> {
    axum::Router::new().route("/files/{sha256}", axum::routing::get(linked))
}

/// How long a link to a file works.
#[derive(Deserialize)]
struct LinkParams {
    expires: i64,
    #[serde(rename = "type")]
    mime: String,
    signature: String,
}

async fn linked(
    State(state): State<AppState>,
    axum::extract::Path(sha256): axum::extract::Path<String>,
    axum::extract::Query(params): axum::extract::Query<LinkParams>,
) -> Response {
    let valid = params.expires > jiff::Timestamp::now().as_second()
        && state.sealer.verify(
            switchboard_engine::files::link_payload(&sha256, params.expires, &params.mime)
                .as_bytes(),
            &params.signature,
        );
    if !valid {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(bytes) = state.files.get(&sha256).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let content_type = HeaderValue::from_str(&params.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            ),
        ],
        bytes,
    )
        .into_response()
}
