//! The stream management API of [SSF 1.0 §8.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1):
//! configuration (§8.1.1: create, read, update, replace, delete), status
//! (§8.1.2) and verification (§8.1.4). A receiver is a confidential client
//! of the tenant; it sees and changes only its own streams.
//!
//! Transmitter-supplied properties in a request (`stream_id` aside: it
//! names the stream) are ignored (§8.1.1.3, §8.1.1.4: the transmitter
//! decides them). Subjects are not filtered: every stream receives the
//! events of all the tenant's subjects (`default_subjects: ALL`, §7.1), so
//! there are no add/remove-subject endpoints.

use holdfast_core::client::is_delivery_url;
use holdfast_core::signals::{
    POLL_DELIVERY, PUSH_DELIVERY, Signal, SignalKind, StreamStatus, events_delivered,
};
use holdfast_store::StreamRecord;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::SsfError;
use crate::state::AppState;

/// How many streams one receiver may have.
pub const MAX_STREAMS_PER_RECEIVER: usize = 10;

/// SSF §8.1.1: the `delivery` member a receiver sends.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeliveryRequest {
    /// `method`: a delivery method URN.
    pub method: Option<String>,
    /// `endpoint_url`: push only (for poll the transmitter supplies it).
    pub endpoint_url: Option<String>,
    /// `authorization_header`: push only, sent with every push.
    pub authorization_header: Option<String>,
}

/// SSF §8.1.1: the receiver-supplied properties of a stream.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamRequest {
    /// `stream_id` (update, replace).
    pub stream_id: Option<String>,
    /// `delivery`.
    pub delivery: Option<DeliveryRequest>,
    /// `events_requested`.
    pub events_requested: Option<Vec<String>>,
    /// `description`.
    pub description: Option<String>,
}

/// SSF §8.1.2: a status change a receiver asks for.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusRequest {
    /// `stream_id`.
    pub stream_id: String,
    /// `status`: enabled, paused or disabled.
    pub status: String,
    /// `reason`.
    pub reason: Option<String>,
}

/// SSF §8.1.4.2: a verification request.
#[derive(Debug, Clone, Deserialize)]
pub struct VerificationRequest {
    /// `stream_id`.
    pub stream_id: String,
    /// `state`, echoed in the verification event.
    pub state: Option<String>,
}

/// Where a tenant's receiver endpoints are.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The tenant's issuer.
    pub issuer: Url,
}

impl Endpoints {
    /// `{issuer}/ssf/{rest}`.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/ssf/{rest}", self.issuer.as_str().trim_end_matches('/'))
    }

    /// The poll endpoint of a stream (RFC 8936 §2).
    pub fn poll_url(&self, stream_id: &str) -> String {
        self.url(&format!("poll/{stream_id}"))
    }
}

/// SSF §8.1.1: a stream's configuration as the API shows it (never the push
/// `authorization_header`: it is the receiver's secret).
pub fn stream_json(stream: &StreamRecord, endpoints: &Endpoints) -> Value {
    let endpoint_url = if stream.delivery_method == POLL_DELIVERY {
        Some(endpoints.poll_url(&stream.id))
    } else {
        stream.push_endpoint.clone()
    };
    let mut delivery = json!({ "method": stream.delivery_method });
    if let Some(url) = endpoint_url {
        delivery["endpoint_url"] = json!(url);
    }
    let mut body = json!({
        "stream_id": stream.id,
        "iss": endpoints.issuer.as_str(),
        "aud": stream.client_id,
        "delivery": delivery,
        "events_supported": SignalKind::REQUESTABLE.map(SignalKind::event_type),
        "events_requested": stream.events_requested,
        "events_delivered": stream.events_delivered.iter().map(|k| k.event_type()).collect::<Vec<_>>(),
        "min_verification_interval": 0,
    });
    if let Some(d) = &stream.description {
        body["description"] = json!(d);
    }
    body
}

/// SSF §8.1.2: a stream's status as the API shows it.
pub fn status_json(stream: &StreamRecord) -> Value {
    let mut body = json!({ "stream_id": stream.id, "status": stream.status.as_str() });
    if let Some(reason) = &stream.status_reason {
        body["reason"] = json!(reason);
    }
    body
}

/// The delivery a request asks for, checked: poll (the default) takes no
/// endpoint; push needs an absolute `https` endpoint (`http` only on a
/// loopback host, for development).
fn delivery_of(
    asked: Option<&DeliveryRequest>,
) -> Result<(String, Option<String>, Option<String>), SsfError> {
    let asked = asked.cloned().unwrap_or_default();
    match asked.method.as_deref().unwrap_or(POLL_DELIVERY) {
        POLL_DELIVERY => Ok((POLL_DELIVERY.to_owned(), None, None)),
        PUSH_DELIVERY => {
            let raw = asked.endpoint_url.ok_or(SsfError::InvalidRequest(
                "push delivery needs delivery.endpoint_url",
            ))?;
            if !is_delivery_url(&raw) {
                return Err(SsfError::InvalidRequest(
                    "delivery.endpoint_url must be an absolute https URL without a fragment (http only on localhost)",
                ));
            }
            // It is sent as a header with every push: refuse now what could
            // never be sent, rather than fail every delivery later.
            if let Some(value) = &asked.authorization_header
                && axum::http::HeaderValue::from_str(value).is_err()
            {
                return Err(SsfError::InvalidRequest(
                    "delivery.authorization_header is not a valid header value",
                ));
            }
            Ok((
                PUSH_DELIVERY.to_owned(),
                Some(raw),
                asked.authorization_header,
            ))
        }
        _ => Err(SsfError::InvalidRequest("unsupported delivery method")),
    }
}

/// SSF §8.1.1.1: creates a stream for `client_id`, enabled, delivering the
/// supported events among those requested (all of them if none are named).
pub async fn create(
    state: &AppState,
    tenant_id: &str,
    client_id: &str,
    request: &StreamRequest,
) -> Result<StreamRecord, SsfError> {
    let existing = state.store.streams_of_client(tenant_id, client_id).await?;
    if existing.len() >= MAX_STREAMS_PER_RECEIVER {
        return Err(SsfError::TooManyStreams);
    }
    let (method, push_endpoint, push_authorization) = delivery_of(request.delivery.as_ref())?;
    let requested = requested_or_all(request.events_requested.clone());
    let now = state.now();
    let stream = StreamRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.to_owned(),
        client_id: client_id.to_owned(),
        delivery_method: method,
        push_endpoint,
        push_authorization,
        events_delivered: events_delivered(&requested),
        events_requested: requested,
        description: request.description.clone(),
        status: StreamStatus::Enabled,
        status_reason: None,
        created_at: now,
        updated_at: now,
    };
    state.store.create_stream(&stream).await?;
    Ok(stream)
}

fn requested_or_all(asked: Option<Vec<String>>) -> Vec<String> {
    match asked {
        Some(list) => list,
        None => SignalKind::REQUESTABLE
            .map(|k| k.event_type().to_owned())
            .to_vec(),
    }
}

/// The receiver's stream `stream_id`, else [`SsfError::StreamNotFound`]
/// (another receiver's stream is not found either).
pub async fn find(
    state: &AppState,
    tenant_id: &str,
    client_id: &str,
    stream_id: &str,
) -> Result<StreamRecord, SsfError> {
    match state.store.stream(tenant_id, stream_id).await? {
        Some(s) if s.client_id == client_id => Ok(s),
        _ => Err(SsfError::StreamNotFound),
    }
}

/// SSF §8.1.1.3 (`replace == false`: only what the request names changes)
/// and §8.1.1.4 (`replace == true`: what it leaves out takes its default).
pub async fn update(
    state: &AppState,
    tenant_id: &str,
    client_id: &str,
    request: &StreamRequest,
    replace: bool,
) -> Result<StreamRecord, SsfError> {
    let stream_id = request
        .stream_id
        .as_deref()
        .ok_or(SsfError::InvalidRequest("stream_id is required"))?;
    let mut stream = find(state, tenant_id, client_id, stream_id).await?;
    if replace || request.delivery.is_some() {
        // An update (PATCH) that names no method keeps the stream's, and a
        // push authorization it does not resend.
        let mut asked = request.delivery.clone().unwrap_or_default();
        if !replace {
            asked
                .method
                .get_or_insert_with(|| stream.delivery_method.clone());
            if asked.method.as_deref() == Some(PUSH_DELIVERY) {
                asked.endpoint_url = asked.endpoint_url.or(stream.push_endpoint.clone());
                asked.authorization_header = asked
                    .authorization_header
                    .or(stream.push_authorization.clone());
            }
        }
        let (method, endpoint, authorization) = delivery_of(Some(&asked))?;
        stream.delivery_method = method;
        stream.push_endpoint = endpoint;
        stream.push_authorization = authorization;
    }
    if replace || request.events_requested.is_some() {
        stream.events_requested = requested_or_all(request.events_requested.clone());
        stream.events_delivered = events_delivered(&stream.events_requested);
    }
    if replace || request.description.is_some() {
        stream.description = request.description.clone();
    }
    stream.updated_at = state.now();
    state.store.update_stream(&stream, None).await?;
    Ok(stream)
}

/// SSF §8.1.2.2: sets the status the receiver asks for.
pub async fn set_status(
    state: &AppState,
    tenant_id: &str,
    client_id: &str,
    request: &StatusRequest,
) -> Result<StreamRecord, SsfError> {
    let status = StreamStatus::parse(&request.status).ok_or(SsfError::InvalidRequest(
        "status must be enabled, paused or disabled",
    ))?;
    let mut stream = find(state, tenant_id, client_id, &request.stream_id).await?;
    stream.status = status;
    stream.status_reason = request.reason.clone();
    stream.updated_at = state.now();
    state.store.update_stream(&stream, None).await?;
    Ok(stream)
}

/// SSF §8.1.4.2: queues a verification event with the receiver's `state`
/// to this stream alone.
pub async fn verify(
    state: &AppState,
    tenant_id: &str,
    client_id: &str,
    request: &VerificationRequest,
) -> Result<(), SsfError> {
    let stream = find(state, tenant_id, client_id, &request.stream_id).await?;
    if stream.status != StreamStatus::Enabled {
        return Err(SsfError::InvalidRequest("the stream is not enabled"));
    }
    let mut signal = Signal::new(
        uuid::Uuid::now_v7().to_string(),
        SignalKind::Verification,
        state.now(),
    );
    signal.detail = request.state.clone();
    state
        .store
        .emit_to_stream(tenant_id, &stream.id, &signal)
        .await?;
    Ok(())
}
