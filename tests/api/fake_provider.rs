//! A fault-injecting OpenID Provider (test double) serving discovery, JWKS, token and userinfo.
