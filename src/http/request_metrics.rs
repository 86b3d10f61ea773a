//! The request metrics: `motcua_http_requests_total{method,route,status}` and
//! `motcua_http_request_duration_seconds{method,route}`.
//!
//! The recorder finds a metric by its name and labels, which it must be handed as owned strings
//! and hash: more work than recording the value itself. The label sets are few (the route
//! templates, the standard methods, the statuses in use), so each is looked up once and its
//! handles kept here. That holds only while the recorder never drops a metric: were it given an
//! idle timeout, kept handles would record into metrics no longer exported.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use http::{Method, StatusCode};
use metrics::{Counter, Histogram};

/// The handles of one label set.
struct Handles {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

/// The handles seen so far, by route template.
#[derive(Default)]
pub struct RequestMetrics {
    routes: RwLock<HashMap<Box<str>, Vec<Handles>>>,
}

impl RequestMetrics {
    /// Counts a finished request and records how long it took.
    pub fn record(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let (method, status) = (method_label(method), status.as_u16());
        let record = |h: &Handles| {
            h.requests.increment(1);
            h.duration.record(elapsed.as_secs_f64());
        };
        let find = |sets: &[Handles]| {
            sets.iter()
                .position(|h| h.method == method && h.status == status)
        };
        // A poisoned lock only means a panic elsewhere while it was held; the map is still whole.
        {
            let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
            if let Some(sets) = routes.get(route)
                && let Some(i) = find(sets)
            {
                return record(&sets[i]);
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let sets = routes.entry(route.into()).or_default();
        let i = match find(sets) {
            Some(i) => i,
            None => {
                sets.push(register(method, route, status));
                sets.len() - 1
            }
        };
        record(&sets[i]);
    }
}

fn register(method: &'static str, route: &str, status: u16) -> Handles {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    Handles {
        method,
        status,
        requests: metrics::counter!("motcua_http_requests_total", &labels),
        duration: metrics::histogram!("motcua_http_request_duration_seconds", &labels[..2]),
    }
}

/// The method as a label: a standard method by its name, any other as `other`, so that callers
/// cannot add a series per method they make up.
fn method_label(method: &Method) -> &'static str {
    static STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    match STANDARD.iter().find(|m| *m == method) {
        Some(m) => m.as_str(),
        None => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let made_up = Method::from_bytes(b"FROBNICATE").unwrap();
        assert_eq!(method_label(&made_up), "other");
    }

    #[test]
    fn each_label_set_is_registered_once() {
        let metrics = RequestMetrics::default();
        let elapsed = Duration::from_millis(3);
        for status in [StatusCode::OK, StatusCode::OK, StatusCode::NOT_FOUND] {
            metrics.record(&Method::GET, "/healthz", status, elapsed);
        }
        metrics.record(&Method::POST, "/healthz", StatusCode::OK, elapsed);
        let routes = metrics.routes.read().unwrap();
        let sets: Vec<_> = routes["/healthz"]
            .iter()
            .map(|h| (h.method, h.status))
            .collect();
        assert_eq!(sets, [("GET", 200), ("GET", 404), ("POST", 200)]);
    }
}
