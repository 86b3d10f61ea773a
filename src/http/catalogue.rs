//! The message catalogue of every problem type the API can answer with.
//!
//! A capability that needs a new error adds an entry here (slug, status, English and Vietnamese
//! title and detail) and returns `ApiError::new(&catalogue::ITS_ENTRY)`; rendering, localisation
//! and the documentation page at `/problems/{slug}` follow without further code. Slugs are part of
//! the contract: the `type` URI of a problem is `{MOTCUA_PUBLIC_URL}/problems/{slug}`.

use super::lang::Text;

#[derive(Debug)]
pub struct ProblemType {
    /// Stable identifier; never change one that has shipped.
    pub slug: &'static str,
    pub status: u16,
    pub title: Text,
    /// Default detail; `{name}` placeholders are filled from the error's arguments.
    pub detail: Text,
}

macro_rules! problem_types {
    ($($name:ident = $slug:literal, $status:literal,
        title($title_en:literal, $title_vi:literal),
        detail($detail_en:literal, $detail_vi:literal);)*) => {
        $(
            pub static $name: ProblemType = ProblemType {
                slug: $slug,
                status: $status,
                title: Text { en: $title_en, vi: $title_vi },
                detail: Text { en: $detail_en, vi: $detail_vi },
            };
        )*
        /// Every problem type, for the documentation pages.
        pub static ALL: &[&ProblemType] = &[$(&$name),*];
    };
}

problem_types! {
    INVALID_REQUEST = "invalid-request", 400,
        title("Invalid request", "Yêu cầu không hợp lệ"),
        detail("The request could not be understood: {reason}",
               "Không thể hiểu yêu cầu: {reason}");
    VALIDATION_FAILED = "validation-failed", 422,
        title("Validation failed", "Dữ liệu không hợp lệ"),
        detail("Some fields are invalid; see `errors`.",
               "Một số trường không hợp lệ; xem `errors`.");
    UNAUTHORIZED = "unauthorized", 401,
        title("Authentication required", "Cần xác thực"),
        detail("A valid access token is required.",
               "Cần có mã truy cập hợp lệ.");
    INVALID_TOKEN = "invalid-token", 401,
        title("Invalid access token", "Mã truy cập không hợp lệ"),
        detail("The access token is invalid or expired; sign in again.",
               "Mã truy cập không hợp lệ hoặc đã hết hạn; vui lòng đăng nhập lại.");
    INSUFFICIENT_LEVEL = "insufficient-identity-level", 401,
        title("Identity level 2 required", "Cần định danh mức 2"),
        detail("This needs identity level 2: sign in again with level 2.",
               "Chức năng này cần tài khoản định danh điện tử mức 2: vui lòng đăng nhập lại ở mức 2.");
    STALE_AUTHENTICATION = "stale-authentication", 401,
        title("Recent sign-in required", "Cần đăng nhập lại"),
        detail("This needs a sign-in within the last {max_age} seconds: sign in again.",
               "Chức năng này cần đăng nhập trong vòng {max_age} giây gần đây: vui lòng đăng nhập lại.");
    FORBIDDEN = "forbidden", 403,
        title("Forbidden", "Không có quyền"),
        detail("You are not allowed to do this.",
               "Bạn không có quyền thực hiện thao tác này.");
    NOT_FOUND = "not-found", 404,
        title("Not found", "Không tìm thấy"),
        detail("There is nothing at {path}.",
               "Không có tài nguyên nào tại {path}.");
    METHOD_NOT_ALLOWED = "method-not-allowed", 405,
        title("Method not allowed", "Phương thức không được hỗ trợ"),
        detail("{method} is not allowed on {path}.",
               "Không hỗ trợ {method} tại {path}.");
    CONFLICT = "conflict", 409,
        title("Conflict", "Xung đột dữ liệu"),
        detail("The request conflicts with the current state: {reason}",
               "Yêu cầu xung đột với trạng thái hiện tại: {reason}");
    TRANSITION_NOT_ALLOWED = "transition-not-allowed", 409,
        title("Transition not allowed", "Không được chuyển trạng thái"),
        detail("A dossier in `{from}` cannot go to `{to}`; allowed: {allowed}.",
               "Hồ sơ ở trạng thái `{from}` không thể chuyển sang `{to}`; được phép: {allowed}.");
    PRECONDITION_FAILED = "precondition-failed", 412,
        title("Precondition failed", "Điều kiện không thỏa"),
        detail("The resource has changed since you read it (`If-Match`): read it again and reapply your change.",
               "Tài nguyên đã thay đổi kể từ lúc bạn đọc (`If-Match`): vui lòng đọc lại và thực hiện lại thay đổi.");
    IDEMPOTENCY_KEY_REUSED = "idempotency-key-reused", 422,
        title("Idempotency-Key reused", "Idempotency-Key đã được dùng"),
        detail("This Idempotency-Key was used for a different request; use a new key.",
               "Idempotency-Key này đã được dùng cho một yêu cầu khác; vui lòng dùng khóa mới.");
    PAYLOAD_TOO_LARGE = "payload-too-large", 413,
        title("Request body too large", "Nội dung yêu cầu quá lớn"),
        detail("The request body is larger than the limit of {limit} bytes.",
               "Nội dung yêu cầu vượt quá giới hạn {limit} byte.");
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type", 415,
        title("Unsupported media type", "Kiểu nội dung không được hỗ trợ"),
        detail("{reason}",
               "Kiểu nội dung không được hỗ trợ: {reason}");
    RATE_LIMITED = "rate-limited", 429,
        title("Too many requests", "Quá nhiều yêu cầu"),
        detail("Slow down and retry after {retry_after} seconds.",
               "Vui lòng thử lại sau {retry_after} giây.");
    INTERNAL = "internal-error", 500,
        title("Internal error", "Lỗi hệ thống"),
        detail("Something went wrong on our side. Quote request id {request_id} when reporting it.",
               "Đã có lỗi phía máy chủ. Vui lòng cung cấp mã yêu cầu {request_id} khi báo lỗi.");
    NOT_READY = "not-ready", 503,
        title("Service not ready", "Dịch vụ chưa sẵn sàng"),
        detail("Not ready: {components}.",
               "Chưa sẵn sàng: {components}.");
    CONCURRENT_UPDATE = "concurrent-update", 503,
        title("Concurrent update", "Xung đột cập nhật đồng thời"),
        detail("Another request changed the same data at the same moment; nothing was written. Retry.",
               "Một yêu cầu khác vừa thay đổi cùng dữ liệu; chưa có gì được ghi. Vui lòng thử lại.");
    SERVICE_UNAVAILABLE = "service-unavailable", 503,
        title("Temporarily unavailable", "Tạm thời gián đoạn"),
        detail("A service this request needs cannot be reached right now. Retry in a moment.",
               "Một dịch vụ cần cho yêu cầu này tạm thời không truy cập được. Vui lòng thử lại sau giây lát.");
    TIMEOUT = "timeout", 504,
        title("Request timed out", "Yêu cầu quá thời gian"),
        detail("The request did not complete within {seconds} seconds.",
               "Yêu cầu không hoàn tất trong {seconds} giây.");
    HTTP_ERROR = "http-error", 400,
        title("Request failed", "Yêu cầu thất bại"),
        detail("The request failed with status {status}.",
               "Yêu cầu thất bại với mã {status}.");
}

/// Looks a problem type up by slug.
pub fn find(slug: &str) -> Option<&'static ProblemType> {
    ALL.iter().copied().find(|t| t.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn slugs_are_unique_and_every_entry_is_translated() {
        let mut seen = HashSet::new();
        for entry in ALL {
            assert!(seen.insert(entry.slug), "duplicate slug {}", entry.slug);
            for text in [entry.title, entry.detail] {
                assert!(!text.en.is_empty() && !text.vi.is_empty(), "{}", entry.slug);
            }
            assert!((400..600).contains(&entry.status));
        }
    }
}
