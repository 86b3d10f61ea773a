//! Listing images over HTTP: a merchant uploads a photo, it comes back re-encoded without its
//! EXIF, under a content-addressed name served with immutable cache headers, and the listing
//! shows it on the next read.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::ok_json;
use crate::listings_api::{Rig, product};

/// A photo: a gradient tinted by `seed`, so that different seeds are different pictures.
fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, seed])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
        .unwrap();
    out
}

fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, y| {
        Rgba([seed, (x % 256) as u8, (y % 256) as u8, 200])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgba8(image)
        .write_with_encoder(PngEncoder::new(&mut out))
        .unwrap();
    out
}

/// The latitude the EXIF below carries, as its three big-endian rationals (13° 5′ 12.34″):
/// bytes that cannot occur by chance in a JPEG.
const LATITUDE: [u8; 24] = [
    0, 0, 0, 13, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0x04, 0xD2, 0, 0, 0, 100,
];

/// `jpeg` with an APP1 Exif segment right after SOI, whose IFD0 points at a GPS IFD holding
/// `GPSLatitudeRef` = N and `GPSLatitude` = [`LATITUDE`]: what a phone writes into a photo
/// taken at home.
fn with_gps_exif(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0 at 8: one entry, GPSInfo (0x8825, LONG) -> the GPS IFD at 26; no next IFD.
    tiff.extend([0, 1, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]);
    // GPS IFD at 26: GPSLatitudeRef (1, ASCII "N") and GPSLatitude (2, 3 RATIONAL at 56).
    tiff.extend([0, 2]);
    tiff.extend([0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend([0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 56]);
    tiff.extend([0, 0, 0, 0]);
    assert_eq!(tiff.len(), 56);
    tiff.extend(LATITUDE);
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend(tiff);
    let length = u16::try_from(segment.len() + 2).unwrap().to_be_bytes();
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1, length[0], length[1]]);
    out.extend(segment);
    out.extend(&jpeg[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn upload(rig: &Rig, token: &str, id: &str, part: Part) -> reqwest::Response {
    rig.app
        .client
        .post(rig.app.url(&format!("/v1/listings/{id}/images")))
        .bearer_auth(token)
        .multipart(Form::new().text("caption", "ignored").part("file", part))
        .send()
        .await
        .unwrap()
}

fn picture(bytes: Vec<u8>, name: &str, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap()
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let content_type = response.headers()["content-type"].clone();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type, "application/problem+json");
    body
}

fn pointers(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["pointer"].as_str()).collect())
        .unwrap_or_default()
}

/// The path part of one of our image URLs.
fn path_of(rig: &Rig, url: &Value) -> String {
    let url = url.as_str().unwrap();
    let path = url
        .strip_prefix(&rig.app.address)
        .unwrap_or_else(|| panic!("{url}"));
    assert!(path.starts_with("/v1/images/"), "{url}");
    path.to_string()
}

async fn bytes_of(response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn an_uploaded_photo_comes_back_without_its_gps_exif_and_the_listing_shows_it_at_once() {
    let rig = Rig::start().await;
    let replica = rig.app.replica().await;
    let listing = rig
        .publish(
            &rig.partner,
            product("Cà phê Buôn Ma Thuột", 180_000, "drinks"),
        )
        .await;
    let id = listing["id"].as_str().unwrap();
    let path = format!("/v1/listings/{id}");
    // Both replicas have the listing cached without images.
    assert_eq!(rig.get_json(&path).await["images"], json!([]));
    let cached = ok_json(replica.get(&path).await, StatusCode::OK).await;
    assert_eq!(cached["images"], json!([]));

    let photo = with_gps_exif(&jpeg(2600, 1300, 7));
    assert!(contains(&photo, b"Exif") && contains(&photo, &LATITUDE));
    image::load_from_memory(&photo).expect("the test photo decodes");
    let response = upload(
        &rig,
        &rig.partner,
        id,
        picture(photo, "nha.jpg", "image/jpeg"),
    )
    .await;
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let written = ok_json(response, StatusCode::CREATED).await;
    assert_eq!(written["images"].as_array().unwrap().len(), 1);
    assert_eq!(written["images"][0], location.as_str());
    let image_path = path_of(&rig, &written["images"][0]);
    let thumb_path = path_of(&rig, &written["thumbnails"][0]);
    assert!(image_path.ends_with(".jpg"), "{image_path}");
    assert_eq!(thumb_path, image_path.replace(".jpg", "-thumb.jpg"));

    // The next read shows it, on either replica, with the ETag of the upload's answer.
    let fresh = rig.app.get(&path).await;
    assert_eq!(fresh.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        ok_json(fresh, StatusCode::OK).await["images"],
        written["images"]
    );
    let fresh = ok_json(replica.get(&path).await, StatusCode::OK).await;
    assert_eq!(fresh["thumbnails"], written["thumbnails"]);

    // Served as stored: right type, immutable, strong ETag, never content-coded.
    let response = rig
        .app
        .client
        .get(rig.app.url(&image_path))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    let served = bytes_of(response).await;
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.get("content-encoding").is_none());
    let sha = hex::encode(Sha256::digest(&served));
    assert_eq!(headers["etag"].to_str().unwrap(), format!("\"{sha}\""));
    assert_eq!(image_path, format!("/v1/images/{sha}.jpg"));

    // No EXIF, no GPS position; still a photo, scaled to 2048 px.
    assert!(!contains(&served, b"Exif"));
    assert!(!contains(&served, &[0xFF, 0xE1]));
    assert!(!contains(&served, &LATITUDE));
    let full = image::load_from_memory(&served).unwrap();
    assert_eq!((full.width(), full.height()), (2048, 1024));

    let thumb = bytes_of(rig.app.get(&thumb_path).await).await;
    assert!(thumb.len() < served.len());
    assert!(!contains(&thumb, b"Exif"));
    let small = image::load_from_memory(&thumb).unwrap();
    assert_eq!((small.width(), small.height()), (320, 160));

    let again = rig
        .app
        .client
        .get(rig.app.url(&image_path))
        .header("if-none-match", format!("\"{sha}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn the_same_picture_uploaded_twice_has_one_name_and_is_stored_once() {
    let rig = Rig::start().await;
    let first = rig
        .publish(&rig.partner, product("Bánh tráng Hòa Đa", 45_000, "food"))
        .await;
    let second = rig
        .publish(&rig.partner, product("Bánh tráng mè đen", 50_000, "food"))
        .await;
    let bytes = png(300, 200, 40);
    let mut names = Vec::new();
    for listing in [&first, &second] {
        let id = listing["id"].as_str().unwrap();
        let part = picture(bytes.clone(), "a.png", "image/png");
        let written = ok_json(
            upload(&rig, &rig.partner, id, part).await,
            StatusCode::CREATED,
        )
        .await;
        names.push(path_of(&rig, &written["images"][0]));
    }
    assert_eq!(names[0], names[1]);
    // PNG stays lossless, and keeps its transparency.
    assert!(names[0].ends_with(".png"));
    let served = bytes_of(rig.app.get(&names[0]).await).await;
    assert!(
        image::load_from_memory(&served)
            .unwrap()
            .color()
            .has_alpha()
    );

    // Again on the same listing: nothing to add.
    let id = first["id"].as_str().unwrap();
    let part = picture(bytes, "again.png", "image/png");
    let unchanged = ok_json(upload(&rig, &rig.partner, id, part).await, StatusCode::OK).await;
    assert_eq!(unchanged["images"].as_array().unwrap().len(), 1);

    // Stored once: the only objects under images/ are this picture and its thumbnail (on S3
    // too, where there is no directory to count).
    let name = names[0].rsplit('/').next().unwrap();
    let storage = &rig.app.state.storage;
    let stored = storage.list("images").await.unwrap();
    let thumb = name.replace('.', "-thumb.");
    let mut expected = vec![format!("images/{name}"), format!("images/{thumb}")];
    expected.sort();
    assert_eq!(stored, expected, "image and thumbnail");
}

#[tokio::test]
async fn what_is_not_a_usable_image_is_refused_naming_the_file() {
    let rig = Rig::start().await;
    let listing = rig
        .publish(&rig.partner, product("Rượu Quán Đế", 120_000, "drinks"))
        .await;
    let id = listing["id"].as_str().unwrap();

    // A ZIP archive named and declared as a PNG.
    let mut zip = b"PK\x03\x04\x14\0\0\0\x08\0".to_vec();
    zip.extend((0..2000).map(|i| (i * 7 % 256) as u8));
    let response = upload(&rig, &rig.partner, id, picture(zip, "anh.png", "image/png")).await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(pointers(&body), ["/file"]);

    // PNG magic bytes, then nothing a decoder can use.
    let mut broken = png(50, 50, 1);
    broken.truncate(40);
    let response = upload(
        &rig,
        &rig.partner,
        id,
        picture(broken, "b.png", "image/png"),
    )
    .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(pointers(&body), ["/file"]);

    // Over 5 MB (JPEG magic bytes first): refused before decoding.
    let mut huge = vec![0xFF, 0xD8, 0xFF, 0xE0];
    huge.resize(5_000_001, 0x42);
    let response = upload(&rig, &rig.partner, id, picture(huge, "c.jpg", "image/jpeg")).await;
    let body = problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(pointers(&body), ["/file"]);

    // No `file` field at all.
    let response = rig
        .app
        .client
        .post(rig.app.url(&format!("/v1/listings/{id}/images")))
        .bearer_auth(&rig.partner)
        .multipart(Form::new().text("caption", "no file"))
        .send()
        .await
        .unwrap();
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(pointers(&body), ["/file"]);

    let now = rig.get_json(&format!("/v1/listings/{id}")).await;
    assert_eq!(now["images"], json!([]));
}

#[tokio::test]
async fn the_eleventh_image_is_refused_naming_images() {
    let rig = Rig::start().await;
    let listing = rig
        .publish(&rig.partner, product("Sò huyết Ô Loan", 250_000, "food"))
        .await;
    let id = listing["id"].as_str().unwrap();
    let path = format!("/v1/listings/{id}");
    let nine: Vec<String> = (0..9)
        .map(|i| format!("https://cdn.example.vn/so-huyet-{i}.webp"))
        .collect();
    ok_json(
        rig.patch(&rig.partner, &path, json!({ "images": nine }))
            .await,
        StatusCode::OK,
    )
    .await;
    let part = picture(jpeg(64, 64, 1), "10.jpg", "image/jpeg");
    let tenth = ok_json(
        upload(&rig, &rig.partner, id, part).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(tenth["images"].as_array().unwrap().len(), 10);
    // A partner's URL is its own thumbnail.
    assert_eq!(tenth["thumbnails"][0], tenth["images"][0]);

    let part = picture(jpeg(64, 64, 2), "11.jpg", "image/jpeg");
    let response = upload(&rig, &rig.partner, id, part).await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(pointers(&body), ["/images"]);
}

#[tokio::test]
async fn a_merchant_cannot_add_images_to_another_merchants_listing() {
    let rig = Rig::start().await;
    let listing = rig
        .publish(&rig.partner, product("Cá ngừ đại dương", 300_000, "food"))
        .await;
    let id = listing["id"].as_str().unwrap();
    let part = picture(jpeg(32, 32, 3), "x.jpg", "image/jpeg");
    let response = upload(&rig, &rig.other_partner, id, part).await;
    problem(response, StatusCode::NOT_FOUND).await;
    let part = picture(jpeg(32, 32, 3), "x.jpg", "image/jpeg");
    let response = rig
        .app
        .client
        .post(rig.app.url(&format!("/v1/listings/{id}/images")))
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let now = rig.get_json(&format!("/v1/listings/{id}")).await;
    assert_eq!(now["images"], json!([]));
}

/// The rule: a merchant adds images to their listing in any status; an image's URL is public
/// (a content hash nobody can guess), while the draft itself stays unseen.
#[tokio::test]
async fn a_draft_takes_images_its_owner_sees_while_the_public_does_not_see_the_draft() {
    let rig = Rig::start().await;
    let draft = ok_json(
        rig.post(
            &rig.partner,
            "/v1/listings",
            product("Nón lá", 60_000, "textiles_handicrafts"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = draft["id"].as_str().unwrap();
    let path = format!("/v1/listings/{id}");
    let part = picture(jpeg(400, 300, 9), "non.jpg", "image/jpeg");
    let written = ok_json(
        upload(&rig, &rig.partner, id, part).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(written["status"], "draft");
    assert_eq!(rig.app.get(&path).await.status(), StatusCode::NOT_FOUND);
    let own = rig
        .send(reqwest::Method::GET, Some(&rig.partner), &path, None, &[])
        .await;
    assert_eq!(
        ok_json(own, StatusCode::OK).await["images"],
        written["images"]
    );
    let image_path = path_of(&rig, &written["images"][0]);
    assert_eq!(rig.app.get(&image_path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_listing_keeps_its_uploaded_images_through_patches_and_stale_uploads_are_refused() {
    let rig = Rig::start().await;
    let listing = rig
        .publish(&rig.partner, product("Hạt điều rang muối", 220_000, "food"))
        .await;
    let id = listing["id"].as_str().unwrap();
    let path = format!("/v1/listings/{id}");
    let part = picture(jpeg(120, 80, 5), "a.jpg", "image/jpeg");
    let response = upload(&rig, &rig.partner, id, part).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let written = ok_json(response, StatusCode::CREATED).await;
    let ours = written["images"][0].as_str().unwrap().to_string();

    // Any other change keeps the image valid, with the upload's ETag as `If-Match`.
    let patched = rig
        .send(
            reqwest::Method::PATCH,
            Some(&rig.partner),
            &path,
            Some(json!({ "price_vnd": 210_000 })),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(
        ok_json(patched, StatusCode::OK).await["images"],
        json!([ours])
    );
    // Sending the URLs back as read reorders them.
    let external = "https://cdn.example.vn/hat-dieu.webp";
    let reordered = rig
        .patch(&rig.partner, &path, json!({ "images": [external, ours] }))
        .await;
    let reordered = ok_json(reordered, StatusCode::OK).await;
    assert_eq!(reordered["images"], json!([external, ours]));
    assert_eq!(
        reordered["thumbnails"][1],
        ours.replace(".jpg", "-thumb.jpg").as_str()
    );
    // The upload's ETag is stale now.
    let part = picture(jpeg(120, 80, 6), "b.jpg", "image/jpeg");
    let response = rig
        .app
        .client
        .post(rig.app.url(&format!("{path}/images")))
        .bearer_auth(&rig.partner)
        .header("if-match", etag)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::PRECONDITION_FAILED).await;
    // Refused before anything was stored: the first picture and its thumbnail are all there is.
    let stored = rig.app.state.storage.list("images").await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
}

#[tokio::test]
async fn a_listing_names_only_images_uploaded_here_and_never_a_thumbnail() {
    let rig = Rig::start().await;
    let listing = rig
        .publish(&rig.partner, product("Sò huyết Ô Loan", 180_000, "food"))
        .await;
    let id = listing["id"].as_str().unwrap();
    let path = format!("/v1/listings/{id}");
    let written = ok_json(
        upload(
            &rig,
            &rig.partner,
            id,
            picture(jpeg(90, 60, 9), "s.jpg", "image/jpeg"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ours = written["images"][0].as_str().unwrap().to_string();
    let thumb = written["thumbnails"][0].as_str().unwrap().to_string();
    // Well formed, but nothing was ever uploaded under this name.
    let never_uploaded = format!("/v1/images/{}.jpg", "0f".repeat(32));

    for (images, pointer) in [
        (json!([ours, thumb]), "/images/1"),
        (json!([never_uploaded]), "/images/0"),
        (
            json!(["https://cdn.example.vn/a.jpg", never_uploaded]),
            "/images/1",
        ),
    ] {
        let refused = rig
            .patch(&rig.partner, &path, json!({ "images": images }))
            .await;
        let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(pointers(&body), [pointer], "{images}");
    }
    // Nothing changed, and a new listing is held to the same rule.
    let read = ok_json(rig.app.get(&path).await, StatusCode::OK).await;
    assert_eq!(read["images"], json!([ours]));
    // Every fault in one answer: a bad price, a thumbnail and a name never uploaded.
    let mut draft = product("Rượu Quán Đế", 0, "drinks");
    draft["images"] = json!([thumb, never_uploaded]);
    let refused = rig
        .send(
            reqwest::Method::POST,
            Some(&rig.partner),
            "/v1/listings",
            Some(draft),
            &[],
        )
        .await;
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut named = pointers(&body);
    named.sort();
    assert_eq!(named, ["/images/0", "/images/1", "/price_vnd"]);
    // And so is each item of a partner's bulk upsert, the others going through.
    let mut bad = product("Cá ngừ đại dương", 250_000, "food");
    bad["external_id"] = json!("tuna-1");
    bad["images"] = json!([never_uploaded]);
    let mut good = product("Bánh tráng Hòa Đa", 45_000, "food");
    good["external_id"] = json!("banh-trang-1");
    good["images"] = json!([ours]);
    let done = ok_json(
        rig.post(
            &rig.partner,
            "/v1/listings/bulk",
            json!({ "items": [bad, good] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["items"][0]["result"], "invalid");
    assert_eq!(done["items"][0]["errors"][0]["pointer"], "/images/0");
    assert_eq!(done["items"][1]["result"], "created");
}

#[tokio::test]
async fn only_exact_image_names_are_served() {
    let rig = Rig::start().await;
    let sha = "ab".repeat(32);
    for path in [
        format!("/v1/images/{sha}.jpg"),
        format!("/v1/images/{}.jpg", sha.to_uppercase()),
        format!("/v1/images/{sha}.gif"),
        "/v1/images/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/v1/images/%2e%2e".to_string(),
    ] {
        problem(rig.app.get(&path).await, StatusCode::NOT_FOUND).await;
    }
}
