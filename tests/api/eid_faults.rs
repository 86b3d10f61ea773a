//! ID-token defects from a fault-injecting OpenID Provider: each refused, nothing left behind.
