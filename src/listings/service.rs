//! The listings' glue between HTTP and the store: who writes, the cache and its exact
//! invalidation, `ETag`s, and one mapping of the store's refusals to problems. Each write is a
//! plain function: a transaction, then the invalidations its effect calls for.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use time::OffsetDateTime;
use uuid::Uuid;

use super::images;
use super::model::{
    FieldFault, ListingFields, ListingInput, MAX_BULK_ITEMS, MAX_IMAGES, MerchantInput, Status,
};
use super::store::{self, BulkItem, Listing, Merchant, Owner, StoreError, Written};
use super::views::{ListingPatchBody, ListingView};
use crate::cache::{Namespace, Source};
use crate::http::payload::etag_of;
use crate::http::{ApiError, ApiResult, catalogue};
use crate::state::AppState;
use crate::tokens::BearerAuth;

/// One listing's detail, one scope per listing: a write to it bumps that scope alone.
pub const LISTING: Namespace = Namespace("listing");
/// One merchant's page, one scope per merchant.
pub const MERCHANT: Namespace = Namespace("merchant");
/// Search and browse pages: any change the public can see bumps them all.
pub const SEARCH: Namespace = Namespace("listings");

/// Invalidation is exact, so entries can live long; the TTL bounds staleness only if an
/// invalidation is lost (Redis unreachable at that moment).
pub const DETAIL_TTL: Duration = Duration::from_secs(300);
pub const SEARCH_TTL: Duration = Duration::from_secs(120);

/// Who writes: a citizen with the `merchant` role (signed in through an app), or a marketplace
/// client bound to a merchant with `listings:write`.
pub async fn owner(state: &AppState, auth: &BearerAuth) -> ApiResult<Owner> {
    let claims = &auth.0;
    let forbidden = || ApiError::new(&catalogue::FORBIDDEN);
    if claims.sid.is_none() {
        let merchant = claims
            .merchant_id
            .as_deref()
            .and_then(|m| Uuid::parse_str(m).ok());
        return match (claims.has_scope("listings:write"), merchant) {
            (true, Some(merchant_id)) => Ok(Owner::Client { merchant_id }),
            _ => Err(forbidden()),
        };
    }
    let citizen = Uuid::parse_str(&claims.sub).map_err(|_| forbidden())?;
    if !claims.has_scope("profile")
        || !store::is_merchant(&state.db, citizen)
            .await
            .map_err(problem)?
    {
        return Err(forbidden());
    }
    Ok(Owner::Citizen(citizen))
}

/// The one answer to each of the store's refusals.
pub fn problem(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::new(&catalogue::NOT_FOUND),
        StoreError::Invalid(faults) => faults.into_iter().fold(
            ApiError::new(&catalogue::VALIDATION_FAILED),
            |e, (field, message)| e.field(field, message),
        ),
        StoreError::Stale => ApiError::new(&catalogue::PRECONDITION_FAILED),
        StoreError::Conflict(reason) => ApiError::new(&catalogue::CONFLICT).arg("reason", reason),
        StoreError::Database(err) => ApiError::from(err),
        StoreError::Other(err) => ApiError::internal(err),
    }
}

pub use crate::http::payload::to_bytes;

/// A listing's body as every reader gets it, and so the bytes its `ETag` is computed from;
/// `base` is the public URL our images are served under.
pub fn listing_bytes(listing: Listing, base: &str) -> Bytes {
    to_bytes(&ListingView::new(listing, base))
}

/// Image URLs of ours that a client read and sends back, as the references a listing keeps.
fn own_images(state: &AppState, input: &mut ListingInput) {
    let base = state.config.issuer();
    input.images = std::mem::take(&mut input.images)
        .into_iter()
        .map(|url| images::to_reference(base, url))
        .collect();
}

/// Our images (`/v1/images/<name>`) looked up in storage for one request. Found ones stay
/// found (images are never deleted), so a reference already on the listing needs no lookup.
#[derive(Default)]
struct ImageLookup {
    found: HashSet<String>,
    missing: HashSet<String>,
}

/// Lookups of one request running at once (each is a file check or an S3 `HEAD`).
const IMAGE_LOOKUPS_AT_ONCE: usize = 8;

impl ImageLookup {
    fn knowing(references: &[String]) -> ImageLookup {
        ImageLookup {
            found: references.iter().cloned().collect(),
            missing: HashSet::new(),
        }
    }

    /// Looks up, a few at a time, each reference to one of our images in `lists` not looked up
    /// yet. Thumbnails, malformed references and lists over the limit are `check`'s to refuse,
    /// so they cost no lookup.
    async fn look_up(&mut self, state: &AppState, lists: &[&[String]]) -> ApiResult<()> {
        let mut wanted = HashSet::new();
        for list in lists.iter().filter(|list| list.len() <= MAX_IMAGES) {
            for reference in list.iter() {
                let ours = images::ImageName::of_reference(reference).filter(|n| !n.thumb);
                if let Some(name) = ours
                    && !self.found.contains(reference)
                    && !self.missing.contains(reference)
                {
                    wanted.insert((reference.clone(), name.key()));
                }
            }
        }
        let storage = &state.storage;
        let mut lookups = futures::stream::iter(wanted)
            .map(|(reference, key)| async move { (reference, storage.exists(&key).await) })
            .buffer_unordered(IMAGE_LOOKUPS_AT_ONCE);
        while let Some((reference, exists)) = lookups.next().await {
            match exists? {
                true => self.found.insert(reference),
                false => self.missing.insert(reference),
            };
        }
        Ok(())
    }

    /// A fault for each reference that was looked up and not found, so that no listing shows a
    /// broken picture (a mistyped name, or another server's).
    fn faults(&self, references: &[String]) -> Vec<FieldFault> {
        references
            .iter()
            .enumerate()
            .filter(|(_, reference)| self.missing.contains(*reference))
            .map(|(i, _)| {
                (
                    format!("/images/{i}"),
                    "no image was uploaded here under this name".to_string(),
                )
            })
            .collect()
    }
}

/// `check` and the image lookups: the fields to write, or one `422` naming every fault.
async fn checked(
    state: &AppState,
    input: ListingInput,
    lookup: &mut ImageLookup,
) -> ApiResult<ListingFields> {
    lookup.look_up(state, &[input.images.as_slice()]).await?;
    let unknown = lookup.faults(&input.images);
    match input.check() {
        Ok(fields) if unknown.is_empty() => Ok(fields),
        Ok(_) => Err(problem(StoreError::Invalid(unknown))),
        Err(mut faults) => {
            faults.extend(unknown);
            Err(problem(StoreError::Invalid(faults)))
        }
    }
}

/// Whether `If-Match` (absent: no condition) names the current `etag` or `*` (RFC 9110
/// §13.1.1: strong comparison, so a weak validator never matches).
pub fn if_match(header: Option<&str>, etag: &str) -> bool {
    header.is_none_or(|header| {
        header
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == etag)
    })
}

/// A published listing's body, from the cache.
pub async fn public_detail(state: &AppState, id: Uuid) -> ApiResult<(Bytes, Source)> {
    let db = state.db.clone();
    let base = state.config.issuer().to_string();
    let scope = id.to_string();
    let load = || async move {
        let listing = store::get_public(&db, id)
            .await
            .map_err(problem)?
            .ok_or_else(|| ApiError::new(&catalogue::NOT_FOUND))?;
        Ok(listing_bytes(listing, &base))
    };
    state
        .cache
        .get_or_load_scoped(LISTING, &scope, "public", DETAIL_TTL, load)
        .await
}

/// After a committed write: what the public saw of the listing goes, on every replica.
pub async fn invalidate(state: &AppState, written: &Written) {
    if !written.public_changed {
        return;
    }
    let listing = &written.listing;
    state
        .cache
        .invalidate_scope(LISTING, &listing.id.to_string())
        .await;
    state
        .cache
        .invalidate_scope(MERCHANT, &listing.merchant_id.to_string())
        .await;
    state.cache.invalidate(SEARCH).await;
}

/// `POST /v1/listings`: a draft for the caller's merchant.
pub async fn create(
    state: &AppState,
    owner: Owner,
    merchant_id: Option<Uuid>,
    mut input: ListingInput,
) -> ApiResult<Listing> {
    own_images(state, &mut input);
    let fields = checked(state, input, &mut ImageLookup::default()).await?;
    let mut tx = state.db.begin().await?;
    let merchant = store::merchant_for_new(&mut tx, owner, merchant_id)
        .await
        .map_err(problem)?;
    let listing = store::create_listing(&mut tx, &merchant, &fields, None)
        .await
        .map_err(problem)?;
    tx.commit().await?;
    Ok(listing)
}

/// What a merchant does to one of their listings.
pub enum Change {
    Patch(Box<ListingPatchBody>),
    Status(Status),
}

/// `PATCH`, `publish`, `archive`: on the caller's own listing, if it is still the version
/// `If-Match` names.
pub async fn change(
    state: &AppState,
    owner: Owner,
    id: Uuid,
    expected: Option<&str>,
    change: Change,
) -> ApiResult<Listing> {
    let mut tx = state.db.begin().await?;
    let before = store::lock_owned(&mut tx, owner, id)
        .await
        .map_err(problem)?;
    let base = state.config.issuer();
    if !if_match(expected, &etag_of(&listing_bytes(before.clone(), base))) {
        return Err(problem(StoreError::Stale));
    }
    let written = match change {
        Change::Patch(patch) => {
            let mut input = patch.apply(before.input());
            own_images(state, &mut input);
            let mut lookup = ImageLookup::knowing(&before.images);
            let fields = checked(state, input, &mut lookup).await?;
            store::update_fields(&mut tx, &before, &fields).await
        }
        Change::Status(to) => {
            store::set_status(&mut tx, &before, to, OffsetDateTime::now_utc()).await
        }
    }
    .map_err(problem)?;
    tx.commit().await?;
    invalidate(state, &written).await;
    Ok(written.listing)
}

/// A partner's bulk upsert for its bound merchant (a citizen names theirs, or has one).
pub async fn bulk(
    state: &AppState,
    owner: Owner,
    items: Vec<(String, Option<String>, ListingInput)>,
) -> ApiResult<Vec<store::BulkResult>> {
    if items.len() > MAX_BULK_ITEMS {
        return Err(problem(StoreError::Invalid(vec![(
            "/items".into(),
            "at most 500 items a call".into(),
        )])));
    }
    let mut items = items;
    for (_, _, input) in &mut items {
        own_images(state, input);
    }
    let mut lookup = ImageLookup::default();
    let lists: Vec<&[String]> = items.iter().map(|(_, _, i)| i.images.as_slice()).collect();
    lookup.look_up(state, &lists).await?;
    let checked = items
        .into_iter()
        .map(|(external_id, status, input)| {
            let unknown = lookup.faults(&input.images);
            bulk_item(external_id, status, input, unknown)
        })
        .collect();
    let mut tx = state.db.begin().await?;
    let merchant = store::merchant_for_new(&mut tx, owner, None)
        .await
        .map_err(problem)?;
    let done = store::bulk_upsert(&mut tx, &merchant, checked, OffsetDateTime::now_utc())
        .await
        .map_err(problem)?;
    tx.commit().await?;
    for id in &done.written {
        state.cache.invalidate_scope(LISTING, &id.to_string()).await;
    }
    if done.public_changed {
        state
            .cache
            .invalidate_scope(MERCHANT, &merchant.id.to_string())
            .await;
        state.cache.invalidate(SEARCH).await;
    }
    Ok(done.results)
}

fn bulk_item(
    external_id: String,
    status: Option<String>,
    input: ListingInput,
    unknown_images: Vec<FieldFault>,
) -> BulkItem {
    let mut faults = Vec::new();
    if !(1..=100).contains(&external_id.chars().count()) {
        faults.push((
            "/external_id".to_string(),
            "1 to 100 characters".to_string(),
        ));
    }
    let status = match status.as_deref() {
        None | Some("published") => Status::Published,
        Some("draft") => Status::Draft,
        Some("archived") => Status::Archived,
        Some(_) => {
            faults.push((
                "/status".to_string(),
                "published, draft or archived".to_string(),
            ));
            Status::Draft
        }
    };
    faults.extend(unknown_images);
    let fields = match (input.check(), faults.is_empty()) {
        (Ok(fields), true) => Ok(fields),
        (Ok(_), false) => Err(faults),
        (Err(more), _) => Err(faults.into_iter().chain(more).collect()),
    };
    BulkItem {
        external_id,
        fields,
        status,
    }
}

/// A moderator hides (`Some(reason)`) or unhides (`None`) a listing; it leaves or rejoins
/// search and detail on every replica as soon as this returns.
pub async fn moderate(state: &AppState, id: Uuid, reason: Option<&str>) -> ApiResult<Listing> {
    let mut tx = state.db.begin().await?;
    let written = store::set_hidden(&mut tx, id, reason, OffsetDateTime::now_utc())
        .await
        .map_err(problem)?;
    tx.commit().await?;
    invalidate(state, &written).await;
    Ok(written.listing)
}

/// `POST /v1/merchants`: a citizen with the `merchant` role registers a merchant they manage.
pub async fn register_merchant(
    state: &AppState,
    citizen: Uuid,
    input: MerchantInput,
) -> ApiResult<Merchant> {
    let fields = input.check().map_err(|f| problem(StoreError::Invalid(f)))?;
    let mut tx = state.db.begin().await?;
    let merchant = store::create_merchant(&mut tx, citizen, &fields)
        .await
        .map_err(problem)?;
    tx.commit().await?;
    Ok(merchant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_strongly() {
        let tag = "\"abc\"";
        assert!(if_match(None, tag));
        assert!(if_match(Some("\"abc\""), tag));
        assert!(if_match(Some("\"x\", \"abc\""), tag));
        assert!(if_match(Some("*"), tag));
        assert!(!if_match(Some("W/\"abc\""), tag));
        assert!(!if_match(Some("\"old\""), tag));
    }
}
