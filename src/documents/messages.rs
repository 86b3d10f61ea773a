//! What the document endpoints say about the `file` field, in English and Vietnamese (what
//! every upload says is in `http::upload`).

use crate::http::lang::Text;

pub const NOT_ALLOWED_TYPE: Text = Text {
    en: "only PDF, JPEG and PNG files are accepted (decided by the file's content)",
    vi: "chỉ nhận tệp PDF, JPEG và PNG (xác định theo nội dung tệp)",
};
