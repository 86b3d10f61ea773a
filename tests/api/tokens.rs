//! Forged access tokens against our API, and our tokens verified by an independent library.
