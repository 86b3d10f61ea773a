//! What the document endpoints say about the `file` field, in English and Vietnamese.

use crate::http::lang::Text;

pub const MISSING_FILE: Text = Text {
    en: "a multipart field named file is required",
    vi: "cần một trường multipart tên là file",
};
pub const TOO_LARGE: Text = Text {
    en: "larger than the limit of {limit} bytes",
    vi: "vượt quá giới hạn {limit} byte",
};
pub const EMPTY: Text = Text {
    en: "the file is empty",
    vi: "tệp rỗng",
};
pub const NOT_ALLOWED_TYPE: Text = Text {
    en: "only PDF, JPEG and PNG files are accepted (decided by the file's content)",
    vi: "chỉ nhận tệp PDF, JPEG và PNG (xác định theo nội dung tệp)",
};
pub const TRUNCATED: Text = Text {
    en: "the upload ended before the file was complete",
    vi: "quá trình tải lên kết thúc trước khi nhận đủ tệp",
};
