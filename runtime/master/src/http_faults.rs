//! `/faults`: the transport's fault hooks driven over HTTP, so that tests and the chaos
//! suite can cut or degrade the links of a real `drover master` process. Mounted only
//! with `drover master --fault-injection` ([`Faults::remote_control`]).
//!
//! ```text
//!  POST   /faults  {"peer":"agent-1","partitioned":true,"drop":0.3,"delay_ms":20}
//!                  replaces the rule for that peer (certificate name, handshake id or
//!                  "ip:port"); all fields but `peer` optional; an empty rule removes it
//!  GET    /faults  the rules in force
//!  DELETE /faults  removes every rule
//! ```
//!
//! The master applies a rule to every message to and from the matching peer, both
//! ways, so one rule on the master is a partition (or a lossy link) of that agent.

use actix_web::{web, HttpResponse};
use drover_transport::{FaultRule, FaultTarget, Faults};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One rule, as carried by `POST /faults` and listed by `GET /faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// The peer: certificate name, handshake id, or UDP address `ip:port`.
    pub peer: String,
    /// Drop every message both ways.
    #[serde(default)]
    pub partitioned: bool,
    /// Probability (0..=1) of dropping each message.
    #[serde(default)]
    pub drop: f64,
    /// Latency added to each message, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
}

impl FaultSpec {
    fn target(&self) -> FaultTarget {
        match self.peer.parse() {
            Ok(addr) => FaultTarget::Addr(addr),
            Err(_) => FaultTarget::Peer(self.peer.clone()),
        }
    }

    fn rule(&self) -> Result<FaultRule, String> {
        if !(0.0..=1.0).contains(&self.drop) {
            return Err(format!("drop must be within 0..=1, not {}", self.drop));
        }
        Ok(FaultRule {
            partitioned: self.partitioned,
            drop: self.drop,
            delay: Duration::from_millis(self.delay_ms),
        })
    }
}

async fn set(faults: web::Data<Faults>, spec: web::Json<FaultSpec>) -> HttpResponse {
    match spec.rule() {
        Ok(rule) => {
            tracing::warn!(peer = %spec.peer, ?rule, "fault rule set over HTTP");
            faults.set_rule(spec.target(), rule);
            HttpResponse::Ok().json(list_of(&faults))
        }
        Err(e) => HttpResponse::BadRequest().body(e),
    }
}

async fn list(faults: web::Data<Faults>) -> HttpResponse {
    HttpResponse::Ok().json(list_of(&faults))
}

async fn clear(faults: web::Data<Faults>) -> HttpResponse {
    tracing::warn!("fault rules cleared over HTTP");
    faults.clear();
    HttpResponse::Ok().json(Vec::<FaultSpec>::new())
}

fn list_of(faults: &Faults) -> Vec<FaultSpec> {
    let mut v: Vec<FaultSpec> = faults
        .rules()
        .into_iter()
        .map(|(t, r)| FaultSpec {
            peer: match t {
                FaultTarget::Peer(p) => p,
                FaultTarget::Addr(a) => a.to_string(),
            },
            partitioned: r.partitioned,
            drop: r.drop,
            delay_ms: u64::try_from(r.delay.as_millis()).unwrap_or(u64::MAX),
        })
        .collect();
    v.sort_by(|a, b| a.peer.cmp(&b.peer));
    v
}

/// Mounts `/faults` on `cfg` when `faults` allows remote control.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, faults: &Faults) {
    if !faults.remote_control() {
        return;
    }
    cfg.app_data(web::Data::new(faults.clone())).service(
        web::resource("/faults")
            .route(web::get().to(list))
            .route(web::post().to(set))
            .route(web::delete().to(clear)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_map_to_targets_and_bad_probabilities_are_refused() {
        let s: FaultSpec = serde_json::from_str(r#"{"peer":"agent-1","drop":0.3}"#).unwrap();
        assert_eq!(s.target(), FaultTarget::Peer("agent-1".into()));
        assert_eq!(s.rule().unwrap().drop, 0.3);
        assert!(!s.rule().unwrap().partitioned);
        let a: FaultSpec = serde_json::from_str(r#"{"peer":"127.0.0.1:9"}"#).unwrap();
        assert!(matches!(a.target(), FaultTarget::Addr(_)));
        let bad = FaultSpec {
            drop: 1.5,
            ..s.clone()
        };
        assert!(bad.rule().is_err());
        let f = Faults::seeded(1);
        f.set_rule(s.target(), s.rule().unwrap());
        assert_eq!(list_of(&f), vec![s]);
    }
}
