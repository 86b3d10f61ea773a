//! The operator scheme (defined with the request state, shared with other capabilities' operator
//! endpoints) and the operator API's paging default.

pub use crate::state::operator::{Operator, OperatorAuth};

pub fn default_page() -> i64 {
    50
}
