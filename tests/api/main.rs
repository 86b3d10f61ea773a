//! Integration tests: one binary, every test against a real PostgreSQL and Redis.

mod cache;
mod health;
mod helpers;
mod identity;
mod openapi;
mod problems;
mod signin;
