//! What the dossier API says about a field it refuses, in English and Vietnamese: the store
//! names the field and one of these, the API renders it in the caller's language.

use crate::http::lang::Text;

macro_rules! messages {
    ($($name:ident = ($en:literal, $vi:literal);)*) => {
        $(pub const $name: Text = Text { en: $en, vi: $vi };)*
        /// Every message, for the test that each is translated.
        pub const ALL: &[Text] = &[$($name),*];
    };
}

messages! {
    REASON_LENGTH = ("between 1 and 2000 characters", "từ 1 đến 2000 ký tự");
    NOTE_LENGTH = ("at most 2000 characters", "tối đa 2000 ký tự");
    NAME_LENGTH = ("between 1 and 200 characters", "từ 1 đến 200 ký tự");
    UNIT_LENGTH = ("between 1 and 300 characters", "từ 1 đến 300 ký tự");
    NOT_BEING_PROCESSED = (
        "only a dossier being processed can be apologised for",
        "chỉ gửi thư xin lỗi được cho hồ sơ đang giải quyết"
    );
    REVISED_TOO_EARLY = (
        "must be later than the current due date and than now",
        "phải sau ngày hẹn trả hiện tại và sau thời điểm hiện tại"
    );
    CLOSED = ("the dossier is closed", "hồ sơ đã kết thúc");
    RESULT_OBJECT = ("an object", "phải là một đối tượng JSON");
    NO_RESULT_YET = ("the dossier has no result yet", "hồ sơ chưa có kết quả");
    ID_NUMBER = (
        "a personal identification number has 12 digits",
        "số định danh cá nhân gồm 12 chữ số"
    );
    AGENCY_CODE_FORMAT = (
        "an agency code looks like XXX.YY.ZZ.Hnn",
        "mã cơ quan có dạng XXX.YY.ZZ.Hnn"
    );
    NOT_ONLINE = (
        "this procedure cannot be applied for online",
        "thủ tục này không nộp trực tuyến được"
    );
    NO_ID_NUMBER = (
        "the identity provider did not release your identification number",
        "nhà cung cấp định danh không cung cấp số định danh cá nhân của bạn"
    );
    IDEMPOTENCY_KEY_REQUIRED = (
        "required: 1 to 255 visible ASCII characters that make retries safe",
        "bắt buộc: từ 1 đến 255 ký tự ASCII hiển thị được, giúp gửi lại an toàn"
    );
    DOCUMENT_MISSING = (
        "a required document is not attached",
        "thiếu giấy tờ bắt buộc"
    );
    DOCUMENT_TYPE = (
        "not a document this procedure asks for",
        "không phải giấy tờ thủ tục này yêu cầu"
    );
    DOCUMENT_TWICE = (
        "one document of each type",
        "mỗi loại giấy tờ chỉ nộp một bản"
    );
    DOCUMENT_UPLOAD = (
        "not one of your uploads, or already attached to a dossier",
        "không phải tệp bạn đã tải lên, hoặc đã gắn với hồ sơ khác"
    );
    DOSSIER_TOO_LARGE = (
        "the documents together are larger than the limit of {limit} bytes",
        "tổng dung lượng giấy tờ vượt quá giới hạn {limit} byte"
    );
    REASON_REQUIRED = (
        "required: the reason the citizen will read",
        "bắt buộc: lý do để người nộp hồ sơ biết"
    );
    SUPPLEMENT_DOCUMENTS_ONLY = (
        "documents are named only when requesting a supplement (`to` supplement_requested)",
        "chỉ nêu giấy tờ khi yêu cầu bổ sung hồ sơ (`to` là supplement_requested)"
    );
    SUPPLEMENT_EMPTY = (
        "give the documents asked for, or at least a note",
        "cần nộp các giấy tờ được yêu cầu, hoặc ít nhất một ghi chú"
    );
    SUPPLEMENT_MISSING = (
        "a document the agency asked for is not supplied",
        "thiếu giấy tờ cơ quan yêu cầu bổ sung"
    );
    DRAFT_FORM = (
        "a JSON object of at most {limit} bytes",
        "một đối tượng JSON không quá {limit} byte"
    );
    BODY_JSON = (
        "the body is not the JSON this operation takes: {reason}",
        "nội dung không đúng JSON mà thao tác này nhận: {reason}"
    );
    IDEMPOTENCY_KEY = (
        "1 to 255 visible ASCII characters",
        "từ 1 đến 255 ký tự ASCII hiển thị được"
    );
    UNKNOWN_PROCEDURE = ("unknown procedure `{code}`", "không có thủ tục `{code}`");
    UNKNOWN_AGENCY = ("unknown agency `{code}`", "không có cơ quan `{code}`");
    AGENCY_NOT_ALLOWED = (
        "this client does not act for `{code}`",
        "ứng dụng này không được thay mặt cơ quan `{code}`"
    );
    ALLOWED_FROM = ("allowed from `{from}`: {allowed}", "được phép từ `{from}`: {allowed}");
    NONE_CLOSED = ("none (the dossier is closed)", "không có (hồ sơ đã kết thúc)");
    NONE_ALLOWED_FROM = (
        "allowed from `{from}`: none (the dossier is closed)",
        "được phép từ `{from}`: không có (hồ sơ đã kết thúc)"
    );
    CURSOR = (
        "not a cursor this endpoint returned",
        "không phải con trỏ trang do điểm cuối này trả về"
    );
    LOOKUP_FACTOR = (
        "give the receipt's pin or the applicant's id_number, one of them",
        "cung cấp một trong hai: mã tra cứu (pin) trên phiếu hẹn hoặc số định danh (id_number) của người nộp"
    );
    MONTH = ("YYYY-MM", "tháng dạng YYYY-MM");
    DAY = ("a date YYYY-MM-DD", "ngày dạng YYYY-MM-DD");
    NO_SUCH_HOLIDAY = ("no entry for this day", "không có ngày này trong bảng ngày nghỉ");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_translated_with_the_same_placeholders() {
        let placeholders = |s: &str| {
            let mut names: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
                .collect();
            names.sort();
            names
        };
        for text in ALL {
            assert!(!text.en.is_empty() && !text.vi.is_empty(), "{text:?}");
            assert_ne!(text.en, text.vi, "{text:?}");
            assert_eq!(placeholders(text.en), placeholders(text.vi), "{text:?}");
        }
    }
}
