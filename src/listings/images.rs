//! Listing images a merchant uploads: JPEG, PNG or WebP decided by the first bytes, decoded
//! under limits that keep a decompression bomb from exhausting memory, turned upright, scaled
//! down, and encoded afresh with no metadata at all, so that the EXIF of a photo taken at home
//! (GPS position, camera, owner) never leaves the server. A JPEG stays a JPEG; a PNG or WebP
//! becomes a PNG: lossless, with its transparency, and read by every client (the WebP encoder at
//! hand is lossless only and would not make the files smaller).
//!
//! Names are content-addressed, `<sha256 of the full image>.jpg` and `…-thumb.jpg` beside it,
//! so the same picture uploaded twice is stored once and served with an immutable cache
//! lifetime. A listing keeps its own images as references `/v1/images/<name>` (whatever the
//! public URL of the deployment); its views turn them into URLs.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

/// The largest file accepted.
pub const MAX_IMAGE_BYTES: u64 = 5_000_000;
/// The most pixels an image may declare; checked before any pixel is decoded.
pub const MAX_PIXELS: u64 = 40_000_000;
/// Longest side of the image served (larger ones are scaled down).
pub const FULL_SIDE: u32 = 2048;
/// Longest side of the thumbnail, for list views.
pub const THUMB_SIDE: u32 = 320;
/// Bytes enough to decide the type (`RIFF????WEBP`).
pub const SNIFF_LEN: usize = 12;
/// Where a listing's own images are served; the prefix of their references.
pub const PATH_PREFIX: &str = "/v1/images/";

/// Neither side may pass this, whatever the pixel count.
const MAX_SIDE: u32 = 20_000;
/// What a decoder may allocate: 40 megapixels of 8-bit RGBA, with room to spare for its
/// working buffers; a 16-bit image that large is refused.
const MAX_DECODE_ALLOC: u64 = 200 * 1024 * 1024;
const JPEG_QUALITY: u8 = 85;
const THUMB_JPEG_QUALITY: u8 = 80;

/// An upload's type, from its magic bytes only (never its name or declared type).
pub fn sniff(head: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(head).ok()? {
        format @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => Some(format),
        _ => None,
    }
}

/// How an image is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Jpeg,
    Png,
}

impl Encoding {
    fn of(format: ImageFormat) -> Encoding {
        match format {
            ImageFormat::Jpeg => Encoding::Jpeg,
            _ => Encoding::Png,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Jpeg => "jpg",
            Encoding::Png => "png",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Encoding::Jpeg => "image/jpeg",
            Encoding::Png => "image/png",
        }
    }
}

/// The name of a stored image: `<64 lowercase hex>[-thumb].<jpg|png>`, nothing else, so a name
/// from a URL can never reach outside the images' directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// SHA-256 of the full image's bytes, lowercase hex.
    pub sha256: String,
    pub thumb: bool,
    pub encoding: Encoding,
}

impl ImageName {
    pub fn parse(text: &str) -> Option<ImageName> {
        let (stem, extension) = text.split_once('.')?;
        let encoding = match extension {
            "jpg" => Encoding::Jpeg,
            "png" => Encoding::Png,
            _ => return None,
        };
        let (sha256, thumb) = match stem.strip_suffix("-thumb") {
            Some(sha256) => (sha256, true),
            None => (stem, false),
        };
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        (sha256.len() == 64 && sha256.bytes().all(hex)).then(|| ImageName {
            sha256: sha256.to_string(),
            thumb,
            encoding,
        })
    }

    /// The thumbnail of this image.
    pub fn thumbnail(&self) -> ImageName {
        ImageName {
            thumb: true,
            ..self.clone()
        }
    }

    /// The object key in storage.
    pub fn key(&self) -> String {
        format!("images/{self}")
    }

    /// The reference a listing keeps.
    pub fn reference(&self) -> String {
        format!("{PATH_PREFIX}{self}")
    }

    /// The image a listing's reference names (`None`: an external URL).
    pub fn of_reference(reference: &str) -> Option<ImageName> {
        ImageName::parse(reference.strip_prefix(PATH_PREFIX)?)
    }

    /// The strong `ETag`: the hash, and which of the two it is.
    pub fn etag(&self) -> String {
        match self.thumb {
            true => format!("\"{}-thumb\"", self.sha256),
            false => format!("\"{}\"", self.sha256),
        }
    }
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let thumb = if self.thumb { "-thumb" } else { "" };
        write!(f, "{}{thumb}.{}", self.sha256, self.encoding.extension())
    }
}

/// A listing's image as the API shows it: our own as a URL under `base` (the public URL),
/// an external one as given.
pub fn public_url(base: &str, reference: &str) -> String {
    match ImageName::of_reference(reference) {
        Some(_) => format!("{base}{reference}"),
        None => reference.to_string(),
    }
}

/// The thumbnail to show for a listing's image: ours, or the external image itself.
pub fn thumbnail_url(base: &str, reference: &str) -> String {
    match ImageName::of_reference(reference) {
        Some(name) => format!("{base}{}", name.thumbnail().reference()),
        None => reference.to_string(),
    }
}

/// A URL of one of our images (as a client read it) back to its reference; anything else as
/// it is.
pub fn to_reference(base: &str, url: String) -> String {
    match url.strip_prefix(base).and_then(ImageName::of_reference) {
        Some(name) => name.reference(),
        None => url,
    }
}

/// Why an upload is not an image we take.
#[derive(Debug, thiserror::Error)]
pub enum ImageFault {
    #[error("the file does not decode as the image its first bytes announce")]
    Undecodable,
    #[error("more than {MAX_PIXELS} pixels, or a side longer than {MAX_SIDE}")]
    TooLarge,
    #[error("encoding failed: {0}")]
    Encoding(ImageError),
}

/// An upload, re-encoded: the full image, its thumbnail, and the name they are stored under.
#[derive(Debug)]
pub struct Processed {
    pub name: ImageName,
    pub full: Vec<u8>,
    pub thumb: Vec<u8>,
}

/// Decodes `bytes` as `format` (its magic bytes said so), turns it upright, scales it down to
/// [`FULL_SIDE`] and [`THUMB_SIDE`], and encodes both afresh, without metadata. CPU-heavy: run
/// it off the async workers.
pub fn process(bytes: &[u8], format: ImageFormat) -> Result<Processed, ImageFault> {
    let image = decode(bytes, format)?;
    let encoding = Encoding::of(format);
    let full = fit(image, FULL_SIDE, FilterType::CatmullRom);
    let thumb = fit(full.clone(), THUMB_SIDE, FilterType::Triangle);
    let full_bytes = encode(&full, encoding, JPEG_QUALITY)?;
    let thumb_bytes = encode(&thumb, encoding, THUMB_JPEG_QUALITY)?;
    Ok(Processed {
        name: ImageName {
            sha256: hex::encode(Sha256::digest(&full_bytes)),
            thumb: false,
            encoding,
        },
        full: full_bytes,
        thumb: thumb_bytes,
    })
}

/// The pixels, upright, after checking the declared dimensions against the limits.
fn decode(bytes: &[u8], format: ImageFormat) -> Result<DynamicImage, ImageFault> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_fault)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageFault::TooLarge);
    }
    // Phones store the camera's rotation in EXIF; it is applied now, as EXIF is dropped.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_fault)?;
    image.apply_orientation(orientation);
    Ok(image)
}

fn decode_fault(err: ImageError) -> ImageFault {
    match err {
        ImageError::Limits(_) => ImageFault::TooLarge,
        _ => ImageFault::Undecodable,
    }
}

/// Scaled down (never up) to fit a square of `side`, keeping the aspect ratio.
fn fit(image: DynamicImage, side: u32, filter: FilterType) -> DynamicImage {
    if image.width() <= side && image.height() <= side {
        return image;
    }
    // A filtered resize keeps a floating-point copy of the width times the new height (about
    // 200 MB from a 40-megapixel photo): an area-averaging pass to twice the size first, which
    // needs only its output, keeps that copy small and the result as sharp.
    let image = match image.width() > 2 * side || image.height() > 2 * side {
        true => image.thumbnail(2 * side, 2 * side),
        false => image,
    };
    image.resize(side, side, filter)
}

/// Fresh bytes: 8 bits per channel, no EXIF, no ICC profile, no text chunks.
fn encode(image: &DynamicImage, encoding: Encoding, quality: u8) -> Result<Vec<u8>, ImageFault> {
    let mut out = Vec::new();
    let written = match encoding {
        Encoding::Jpeg => DynamicImage::ImageRgb8(image.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, quality)),
        Encoding::Png => {
            let image = match image.color().has_alpha() {
                true => DynamicImage::ImageRgba8(image.to_rgba8()),
                false => DynamicImage::ImageRgb8(image.to_rgb8()),
            };
            let encoder = PngEncoder::new_with_quality(
                &mut out,
                CompressionType::Default,
                PngFilter::Adaptive,
            );
            image.write_with_encoder(encoder)
        }
    };
    written.map_err(ImageFault::Encoding)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 90]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
            .unwrap();
        out
    }

    #[test]
    fn names_are_strict() {
        let sha = "ab".repeat(32);
        let name = ImageName::parse(&format!("{sha}.jpg")).unwrap();
        assert_eq!(name.to_string(), format!("{sha}.jpg"));
        assert_eq!(name.key(), format!("images/{sha}.jpg"));
        assert_eq!(name.thumbnail().to_string(), format!("{sha}-thumb.jpg"));
        assert!(ImageName::parse(&format!("{sha}-thumb.png")).unwrap().thumb);
        for bad in [
            format!("{}.jpg", "AB".repeat(32)),
            format!("{}.jpg", &sha[1..]),
            format!("{sha}.gif"),
            format!("{sha}.jpg.png"),
            format!("../{sha}.jpg"),
            format!("{sha}-thumb-thumb.jpg"),
            String::new(),
        ] {
            assert_eq!(ImageName::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn references_become_urls_and_back() {
        let base = "https://motcua.example.vn";
        let reference = format!("/v1/images/{}.png", "0f".repeat(32));
        let url = public_url(base, &reference);
        assert_eq!(url, format!("{base}{reference}"));
        assert_eq!(to_reference(base, url), reference);
        assert!(thumbnail_url(base, &reference).ends_with("-thumb.png"));
        let external = "https://cdn.example.vn/a.jpg";
        assert_eq!(to_reference(base, external.into()), external);
        assert_eq!(thumbnail_url(base, external), external);
    }

    #[test]
    fn types_come_from_magic_bytes() {
        assert_eq!(sniff(&jpeg(2, 2)), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(ImageFormat::WebP));
        assert_eq!(sniff(b"PK\x03\x04\x14\0\0\0\0\0\0\0"), None);
        assert_eq!(sniff(b"GIF89a\0\0\0\0\0\0"), None);
    }

    #[test]
    fn a_large_photo_is_scaled_and_the_same_photo_gets_the_same_name() {
        let bytes = jpeg(2500, 1000);
        let first = process(&bytes, ImageFormat::Jpeg).unwrap();
        let full = image::load_from_memory(&first.full).unwrap();
        assert_eq!((full.width(), full.height()), (2048, 819));
        let thumb = image::load_from_memory(&first.thumb).unwrap();
        assert_eq!(thumb.width(), 320);
        assert!(first.thumb.len() < first.full.len());
        let again = process(&bytes, ImageFormat::Jpeg).unwrap();
        assert_eq!(again.name, first.name);
    }

    #[test]
    fn garbage_and_bombs_are_refused_before_decoding_pixels() {
        let mut bytes = jpeg(8, 8);
        bytes.truncate(20);
        assert!(matches!(
            process(&bytes, ImageFormat::Jpeg),
            Err(ImageFault::Undecodable)
        ));
        // A PNG declaring 10000 × 10000 pixels, with a few bytes of pixel data.
        let size = [
            &10_000u32.to_be_bytes()[..],
            &10_000u32.to_be_bytes(),
            &[8, 2, 0, 0, 0],
        ];
        let png = [
            &b"\x89PNG\r\n\x1a\n"[..],
            &chunk(b"IHDR", &size.concat()),
            &chunk(b"IDAT", &[0x78, 0x9C, 0x62, 0x60, 0, 0, 0, 0]),
            &chunk(b"IEND", &[]),
        ]
        .concat();
        let refused = process(&png, ImageFormat::Png);
        assert!(matches!(refused, Err(ImageFault::TooLarge)), "{refused:?}");
    }

    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let length = u32::try_from(data.len()).unwrap().to_be_bytes();
        let crc = crc32(&[kind, data].concat()).to_be_bytes();
        [&length[..], kind, data, &crc].concat()
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
