// `sqlx::migrate!` embeds the migrations at compile time: rebuild when one is added or changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    // The query macros read `.sqlx/` and these variables; cargo tracks neither by itself, so
    // without this a changed description or a switch to offline would go unchecked.
    println!("cargo:rerun-if-changed=.sqlx");
    println!("cargo:rerun-if-env-changed=SQLX_OFFLINE");
    println!("cargo:rerun-if-env-changed=SQLX_OFFLINE_DIR");
    println!("cargo:rerun-if-env-changed=DATABASE_URL");
}
