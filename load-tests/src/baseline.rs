//! The baseline the cached read paths are judged against: a minimal poem server that answers
//! every GET with the same bytes (a file read once at start), with no authentication, rate
//! limit, cache or database. Loopback only.
//!
//!     motcua-baseline --listen 127.0.0.1:18099 --body target/load/listing.json

use std::net::SocketAddr;

use anyhow::{Context, bail};
use clap::Parser;
use poem::http::header;
use poem::{EndpointExt, Response, Route, Server, handler, listener::TcpListener, web::Data};

#[derive(Debug, Parser)]
#[command(about = "Serves one JSON body to every GET, as fast as poem can")]
struct Args {
    #[arg(long)]
    listen: SocketAddr,
    /// The bytes to serve (a listing's JSON, say).
    #[arg(long)]
    body: std::path::PathBuf,
}

#[handler]
fn serve(body: Data<&bytes::Bytes>) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.0.clone())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        bail!("the baseline listens on loopback only, not {}", args.listen);
    }
    let body = bytes::Bytes::from(
        std::fs::read(&args.body).with_context(|| format!("--body {}", args.body.display()))?,
    );
    let app = Route::new().at("/*path", serve).data(body);
    Server::new(TcpListener::bind(args.listen)).run(app).await?;
    Ok(())
}
