//! Demo data for `motcua seed-demo`: the catalogue of the former Phú Yên area (part of Đắk Lắk
//! since 1 July 2025) and generated dossiers.
//! (size: most of this file is the catalogue itself, data written out as Rust literals.)
//!
//! Agency codes follow the `XXX.YY.ZZ.Hnn` shape but are demo values, not entries of the
//! national registry. Procedure codes marked `national` in [`procedures`] are the codes of the
//! national database of administrative procedures as we know them; the others are shaped like
//! them for the demo. Everything is upserted, so loading twice changes nothing.

use std::collections::HashMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

use super::calendar::{self, Holidays, VIETNAM};
use super::model::{self, AgencyCode, DossierCode, Status};
use super::store;
use crate::crypto::MasterKey;

pub const PROVINCE: &str = "Đắk Lắk";

/// Every generated dossier answers the public lookup with this PIN (demo only).
pub const DEMO_PIN: &str = "20250701";

/// Generated applicants' identification numbers are `054` followed by nine digits from this
/// range, so a demo citizen signing in with one of them sees "their" dossiers.
pub const DEMO_ID_NUMBER_FIRST: u64 = 54_190_000_000;
const DEMO_APPLICANTS: u64 = 2_000;

/// The demo identification number of applicant `n` (0-based).
pub fn demo_id_number(n: u64) -> String {
    format!("{:012}", DEMO_ID_NUMBER_FIRST + n % DEMO_APPLICANTS)
}

struct AgencySeed {
    code: &'static str,
    name: &'static str,
    commune: Option<&'static str>,
}

const AGENCIES: &[AgencySeed] = &[
    AgencySeed {
        code: "000.00.20.H15",
        name: "Sở Tư pháp tỉnh Đắk Lắk",
        commune: None,
    },
    AgencySeed {
        code: "000.00.21.H15",
        name: "Sở Xây dựng tỉnh Đắk Lắk",
        commune: None,
    },
    AgencySeed {
        code: "000.00.22.H15",
        name: "Sở Nông nghiệp và Môi trường tỉnh Đắk Lắk",
        commune: None,
    },
    AgencySeed {
        code: "000.00.23.H15",
        name: "Sở Tài chính tỉnh Đắk Lắk",
        commune: None,
    },
    AgencySeed {
        code: "000.31.01.H15",
        name: "Ủy ban nhân dân phường Tuy Hòa",
        commune: Some("22015"),
    },
    AgencySeed {
        code: "000.31.02.H15",
        name: "Ủy ban nhân dân phường Phú Yên",
        commune: Some("22045"),
    },
    AgencySeed {
        code: "000.31.03.H15",
        name: "Ủy ban nhân dân phường Sông Cầu",
        commune: Some("22075"),
    },
    AgencySeed {
        code: "000.31.04.H15",
        name: "Ủy ban nhân dân xã Tây Hòa",
        commune: Some("22300"),
    },
];

/// Agencies that receive commune-level procedures: a commune procedure's dossiers are spread
/// over them.
const COMMUNE_AGENCIES: &[&str] = &[
    "000.31.01.H15",
    "000.31.02.H15",
    "000.31.03.H15",
    "000.31.04.H15",
];

const COMMUNES: &[(&str, &str, &str)] = &[
    ("22015", "Phường Tuy Hòa", "phuong"),
    ("22045", "Phường Phú Yên", "phuong"),
    ("22060", "Phường Bình Kiến", "phuong"),
    ("22075", "Phường Sông Cầu", "phuong"),
    ("22090", "Phường Xuân Đài", "phuong"),
    ("22120", "Phường Đông Hòa", "phuong"),
    ("22150", "Phường Hòa Hiệp", "phuong"),
    ("22210", "Xã Tuy An Bắc", "xa"),
    ("22240", "Xã Đồng Xuân", "xa"),
    ("22270", "Xã Sơn Hòa", "xa"),
    ("22300", "Xã Tây Hòa", "xa"),
    ("22330", "Xã Sông Hinh", "xa"),
];

/// A field of an online form: name, title, JSON type, extra schema keywords, example value.
type Field = (&'static str, &'static str, Value);

fn text(name: &'static str, title: &'static str, example: &str) -> Field {
    (
        name,
        title,
        json!({ "type": "string", "minLength": 1, "maxLength": 200, "x-example": example }),
    )
}

fn date_field(name: &'static str, title: &'static str, example: &str) -> Field {
    (
        name,
        title,
        json!({ "type": "string", "format": "date", "x-example": example }),
    )
}

fn id_number(name: &'static str, title: &'static str, example: &str) -> Field {
    (
        name,
        title,
        json!({ "type": "string", "pattern": "^[0-9]{12}$", "x-example": example }),
    )
}

fn choice(name: &'static str, title: &'static str, options: &[&str]) -> Field {
    (
        name,
        title,
        json!({ "type": "string", "enum": options, "x-example": options[0] }),
    )
}

fn amount(name: &'static str, title: &'static str, example: i64) -> Field {
    (
        name,
        title,
        json!({ "type": "integer", "minimum": 0, "x-example": example }),
    )
}

/// A JSON Schema (2020-12) of the form, whose top-level `examples` holds one valid form.
fn form_schema(title: &str, fields: Vec<Field>) -> Value {
    let mut properties = serde_json::Map::new();
    let mut example = serde_json::Map::new();
    let mut required = Vec::new();
    for (name, field_title, mut schema) in fields {
        if let Some(object) = schema.as_object_mut() {
            if let Some(value) = object.remove("x-example") {
                example.insert(name.to_string(), value);
            }
            object.insert("title".into(), json!(field_title));
        }
        properties.insert(name.to_string(), schema);
        required.push(name);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
        "examples": [example],
    })
}

struct ProcedureSeed {
    code: &'static str,
    /// The code is the national database's, as far as we know.
    national: bool,
    name: &'static str,
    field: &'static str,
    agency: &'static str,
    days: f64,
    cutoff: Time,
    fee_vnd: i64,
    fee_note: Option<&'static str>,
    online_level: &'static str,
    documents: &'static [(&'static str, &'static str)],
    form: fn() -> Vec<Field>,
}

fn no_form() -> Vec<Field> {
    Vec::new()
}

fn birth_form() -> Vec<Field> {
    vec![
        text(
            "child_name",
            "Họ, chữ đệm và tên người được khai sinh",
            "Nguyễn Minh An",
        ),
        date_field("child_birth_date", "Ngày, tháng, năm sinh", "2025-06-12"),
        choice("child_gender", "Giới tính", &["nam", "nu"]),
        text("birth_place", "Nơi sinh", "Bệnh viện Đa khoa tỉnh Phú Yên"),
        text(
            "mother_name",
            "Họ, chữ đệm và tên người mẹ",
            "Trần Thị Bích",
        ),
        text(
            "father_name",
            "Họ, chữ đệm và tên người cha",
            "Nguyễn Văn Hùng",
        ),
        choice(
            "relationship",
            "Quan hệ với người được khai sinh",
            &["cha", "me", "ong", "ba", "khac"],
        ),
    ]
}

fn marriage_form() -> Vec<Field> {
    vec![
        text("husband_name", "Họ, chữ đệm và tên bên nam", "Lê Văn Tâm"),
        id_number(
            "husband_id_number",
            "Số định danh cá nhân bên nam",
            "054095001234",
        ),
        text("wife_name", "Họ, chữ đệm và tên bên nữ", "Phạm Thị Hoa"),
        id_number(
            "wife_id_number",
            "Số định danh cá nhân bên nữ",
            "054197005678",
        ),
        date_field("registration_date", "Ngày đề nghị đăng ký", "2025-09-20"),
    ]
}

fn death_form() -> Vec<Field> {
    vec![
        text(
            "deceased_name",
            "Họ, chữ đệm và tên người chết",
            "Võ Văn Bảy",
        ),
        id_number(
            "deceased_id_number",
            "Số định danh cá nhân người chết",
            "054150001111",
        ),
        date_field("date_of_death", "Ngày chết", "2025-08-02"),
        text("place_of_death", "Nơi chết", "Phường Tuy Hòa, tỉnh Đắk Lắk"),
        choice(
            "relationship",
            "Quan hệ với người chết",
            &["con", "vo", "chong", "khac"],
        ),
    ]
}

fn extract_form() -> Vec<Field> {
    vec![
        choice(
            "record_kind",
            "Loại trích lục",
            &["khai_sinh", "ket_hon", "khai_tu"],
        ),
        text(
            "person_name",
            "Họ và tên người được cấp trích lục",
            "Nguyễn Minh An",
        ),
        amount("copies", "Số bản sao đề nghị cấp", 2),
    ]
}

fn marital_status_form() -> Vec<Field> {
    vec![
        text("purpose", "Mục đích sử dụng", "Đăng ký kết hôn"),
        choice(
            "current_status",
            "Tình trạng hôn nhân hiện tại",
            &["chua_ket_hon", "ly_hon", "goa"],
        ),
        text("residence", "Nơi cư trú", "Phường Phú Yên, tỉnh Đắk Lắk"),
    ]
}

fn household_business_form() -> Vec<Field> {
    vec![
        text(
            "business_name",
            "Tên hộ kinh doanh",
            "Hộ kinh doanh Cá ngừ Đại Dương",
        ),
        text(
            "address",
            "Địa chỉ trụ sở",
            "12 Trần Hưng Đạo, phường Tuy Hòa, tỉnh Đắk Lắk",
        ),
        text(
            "activities",
            "Ngành, nghề kinh doanh",
            "Chế biến và bảo quản thủy sản",
        ),
        amount("capital_vnd", "Vốn kinh doanh (đồng)", 200_000_000),
        amount("employees", "Số lao động", 4),
    ]
}

fn business_change_form() -> Vec<Field> {
    vec![
        text("registration_number", "Mã số hộ kinh doanh", "40A8012345"),
        text("change", "Nội dung thay đổi", "Thay đổi địa chỉ trụ sở"),
    ]
}

fn business_pause_form() -> Vec<Field> {
    vec![
        text("registration_number", "Mã số hộ kinh doanh", "40A8012345"),
        date_field("from", "Ngày bắt đầu tạm ngừng", "2025-10-01"),
        date_field("until", "Ngày kết thúc tạm ngừng", "2025-12-31"),
        text("reason", "Lý do", "Sửa chữa cơ sở"),
    ]
}

fn judicial_record_form() -> Vec<Field> {
    vec![
        text("full_name", "Họ và tên", "Huỳnh Thị Mai"),
        id_number("id_number", "Số định danh cá nhân", "054196003456"),
        date_field("birth_date", "Ngày sinh", "1996-04-30"),
        choice("record_type", "Loại phiếu", &["so_1", "so_2"]),
        amount("copies", "Số lượng phiếu", 1),
        text("purpose", "Mục đích sử dụng", "Bổ sung hồ sơ xin việc"),
    ]
}

fn company_form() -> Vec<Field> {
    vec![
        text(
            "company_name",
            "Tên doanh nghiệp",
            "Công ty TNHH Du lịch Gành Đá Đĩa",
        ),
        text(
            "address",
            "Địa chỉ trụ sở chính",
            "05 Độc Lập, phường Tuy Hòa, tỉnh Đắk Lắk",
        ),
        text(
            "activities",
            "Ngành, nghề kinh doanh",
            "Điều hành tua du lịch",
        ),
        amount("charter_capital_vnd", "Vốn điều lệ (đồng)", 1_500_000_000),
        text(
            "legal_representative",
            "Người đại diện theo pháp luật",
            "Đặng Quốc Bảo",
        ),
    ]
}

fn permit_extension_form() -> Vec<Field> {
    vec![
        text("permit_number", "Số giấy phép xây dựng", "125/GPXD"),
        date_field("issued_on", "Ngày cấp", "2024-11-05"),
        text(
            "reason",
            "Lý do đề nghị gia hạn",
            "Chưa khởi công do thời tiết",
        ),
    ]
}

fn licence_form() -> Vec<Field> {
    vec![
        text("licence_number", "Số giấy phép lái xe", "540123456789"),
        choice("licence_class", "Hạng", &["A1", "A", "B", "C1", "C"]),
        date_field("expires_on", "Ngày hết hạn", "2025-12-31"),
    ]
}

const TK: (&str, &str) = ("to_khai", "Tờ khai theo mẫu");
const GIAY_CHUNG_SINH: (&str, &str) = ("giay_chung_sinh", "Giấy chứng sinh hoặc văn bản thay thế");
const UY_QUYEN: (&str, &str) = ("van_ban_uy_quyen", "Văn bản ủy quyền (nếu nộp thay)");
const GIAY_BAO_TU: (&str, &str) = ("giay_bao_tu", "Giấy báo tử hoặc giấy tờ thay thế");
const XAC_NHAN_HON_NHAN: (&str, &str) = (
    "xac_nhan_tinh_trang_hon_nhan",
    "Giấy xác nhận tình trạng hôn nhân (nếu đăng ký ngoài nơi cư trú)",
);
const GIAY_DE_NGHI: (&str, &str) = ("giay_de_nghi", "Giấy đề nghị theo mẫu");
const BAN_VE: (&str, &str) = ("ban_ve_thiet_ke", "Bản vẽ thiết kế xây dựng");
const GCN_DAT: (&str, &str) = ("giay_chung_nhan_dat", "Giấy chứng nhận quyền sử dụng đất");
const HOP_DONG: (&str, &str) = (
    "hop_dong_chuyen_nhuong",
    "Hợp đồng chuyển nhượng đã công chứng, chứng thực",
);
const DIEU_LE: (&str, &str) = ("dieu_le", "Điều lệ công ty");
const GIAY_PHEP_CU: (&str, &str) = ("giay_phep_da_cap", "Bản chính giấy phép đã được cấp");
const ANH: (&str, &str) = ("anh_chan_dung", "Ảnh chân dung");
const GIAY_KHAM: (&str, &str) = ("giay_kham_suc_khoe", "Giấy khám sức khỏe của người lái xe");
const BAN_CHINH: (&str, &str) = ("ban_chinh", "Bản chính giấy tờ cần chứng thực");

const T1500: Time = time::macros::time!(15:00);
const T1600: Time = time::macros::time!(16:00);

// size: a data table, one literal per procedure.
fn procedures() -> Vec<ProcedureSeed> {
    let ward = "000.31.01.H15";
    vec![
        ProcedureSeed {
            code: "1.001193",
            national: true,
            name: "Đăng ký khai sinh",
            field: "Hộ tịch",
            agency: ward,
            days: 0.5,
            cutoff: T1500,
            fee_vnd: 0,
            fee_note: Some("Miễn lệ phí khi đăng ký đúng hạn"),
            online_level: "whole_process",
            documents: &[TK, GIAY_CHUNG_SINH, UY_QUYEN],
            form: birth_form,
        },
        ProcedureSeed {
            code: "1.000894",
            national: true,
            name: "Đăng ký kết hôn",
            field: "Hộ tịch",
            agency: ward,
            days: 0.5,
            cutoff: T1500,
            fee_vnd: 0,
            fee_note: Some("Miễn lệ phí đăng ký kết hôn trong nước"),
            online_level: "whole_process",
            documents: &[TK, XAC_NHAN_HON_NHAN],
            form: marriage_form,
        },
        ProcedureSeed {
            code: "1.000656",
            national: true,
            name: "Đăng ký khai tử",
            field: "Hộ tịch",
            agency: ward,
            days: 0.5,
            cutoff: T1500,
            fee_vnd: 0,
            fee_note: Some("Miễn lệ phí khi đăng ký đúng hạn"),
            online_level: "whole_process",
            documents: &[TK, GIAY_BAO_TU, UY_QUYEN],
            form: death_form,
        },
        ProcedureSeed {
            code: "1.004884",
            national: false,
            name: "Đăng ký lại khai sinh",
            field: "Hộ tịch",
            agency: ward,
            days: 5.0,
            cutoff: T1500,
            fee_vnd: 5_000,
            fee_note: None,
            online_level: "partial",
            documents: &[TK, UY_QUYEN],
            form: birth_form,
        },
        ProcedureSeed {
            code: "2.000635",
            national: false,
            name: "Cấp bản sao Trích lục hộ tịch",
            field: "Hộ tịch",
            agency: ward,
            days: 0.5,
            cutoff: T1500,
            fee_vnd: 8_000,
            fee_note: Some("8.000 đồng/bản sao"),
            online_level: "whole_process",
            documents: &[TK],
            form: extract_form,
        },
        ProcedureSeed {
            code: "1.004227",
            national: false,
            name: "Cấp Giấy xác nhận tình trạng hôn nhân",
            field: "Hộ tịch",
            agency: ward,
            days: 3.0,
            cutoff: T1500,
            fee_vnd: 0,
            fee_note: None,
            online_level: "whole_process",
            documents: &[TK],
            form: marital_status_form,
        },
        ProcedureSeed {
            code: "2.000815",
            national: false,
            name: "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
            field: "Chứng thực",
            agency: ward,
            days: 0.5,
            cutoff: T1600,
            fee_vnd: 2_000,
            fee_note: Some("2.000 đồng/trang từ trang thứ nhất đến trang thứ hai"),
            online_level: "none",
            documents: &[BAN_CHINH],
            form: no_form,
        },
        ProcedureSeed {
            code: "2.000884",
            national: false,
            name: "Chứng thực chữ ký trong các giấy tờ, văn bản",
            field: "Chứng thực",
            agency: ward,
            days: 0.5,
            cutoff: T1600,
            fee_vnd: 10_000,
            fee_note: Some("10.000 đồng/trường hợp"),
            online_level: "none",
            documents: &[BAN_CHINH],
            form: no_form,
        },
        ProcedureSeed {
            code: "1.001612",
            national: true,
            name: "Đăng ký thành lập hộ kinh doanh",
            field: "Thành lập và hoạt động của hộ kinh doanh",
            agency: "000.31.04.H15",
            days: 3.0,
            cutoff: T1500,
            fee_vnd: 100_000,
            fee_note: Some("Theo nghị quyết của Hội đồng nhân dân tỉnh"),
            online_level: "whole_process",
            documents: &[GIAY_DE_NGHI, UY_QUYEN],
            form: household_business_form,
        },
        ProcedureSeed {
            code: "2.000720",
            national: false,
            name: "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh",
            field: "Thành lập và hoạt động của hộ kinh doanh",
            agency: "000.31.04.H15",
            days: 3.0,
            cutoff: T1500,
            fee_vnd: 50_000,
            fee_note: None,
            online_level: "whole_process",
            documents: &[GIAY_DE_NGHI],
            form: business_change_form,
        },
        ProcedureSeed {
            code: "2.000575",
            national: false,
            name: "Tạm ngừng hoạt động hộ kinh doanh",
            field: "Thành lập và hoạt động của hộ kinh doanh",
            agency: "000.31.04.H15",
            days: 3.0,
            cutoff: T1500,
            fee_vnd: 0,
            fee_note: None,
            online_level: "whole_process",
            documents: &[GIAY_DE_NGHI],
            form: business_pause_form,
        },
        ProcedureSeed {
            code: "2.000488",
            national: true,
            name: "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam, người nước ngoài đang cư trú tại Việt Nam",
            field: "Lý lịch tư pháp",
            agency: "000.00.20.H15",
            days: 10.0,
            cutoff: T1500,
            fee_vnd: 200_000,
            fee_note: Some("Sinh viên, người có công: 100.000 đồng"),
            online_level: "whole_process",
            documents: &[TK, UY_QUYEN],
            form: judicial_record_form,
        },
        ProcedureSeed {
            code: "2.000505",
            national: false,
            name: "Cấp Phiếu lý lịch tư pháp cho cơ quan tiến hành tố tụng",
            field: "Lý lịch tư pháp",
            agency: "000.00.20.H15",
            days: 10.0,
            cutoff: T1500,
            fee_vnd: 0,
            fee_note: None,
            online_level: "none",
            documents: &[GIAY_DE_NGHI],
            form: no_form,
        },
        ProcedureSeed {
            code: "1.009994",
            national: false,
            name: "Cấp giấy phép xây dựng mới đối với công trình cấp III, cấp IV",
            field: "Hoạt động xây dựng",
            agency: "000.00.21.H15",
            days: 20.0,
            cutoff: T1500,
            fee_vnd: 150_000,
            fee_note: None,
            online_level: "partial",
            documents: &[GIAY_DE_NGHI, GCN_DAT, BAN_VE],
            form: no_form,
        },
        ProcedureSeed {
            code: "1.009995",
            national: false,
            name: "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ",
            field: "Hoạt động xây dựng",
            agency: "000.00.21.H15",
            days: 15.0,
            cutoff: T1500,
            fee_vnd: 75_000,
            fee_note: None,
            online_level: "partial",
            documents: &[GIAY_DE_NGHI, GCN_DAT, BAN_VE],
            form: no_form,
        },
        ProcedureSeed {
            code: "1.009996",
            national: false,
            name: "Cấp giấy phép sửa chữa, cải tạo công trình",
            field: "Hoạt động xây dựng",
            agency: "000.00.21.H15",
            days: 20.0,
            cutoff: T1500,
            fee_vnd: 75_000,
            fee_note: None,
            online_level: "partial",
            documents: &[GIAY_DE_NGHI, BAN_VE],
            form: no_form,
        },
        ProcedureSeed {
            code: "1.009997",
            national: false,
            name: "Gia hạn giấy phép xây dựng",
            field: "Hoạt động xây dựng",
            agency: "000.00.21.H15",
            days: 5.0,
            cutoff: T1500,
            fee_vnd: 15_000,
            fee_note: None,
            online_level: "whole_process",
            documents: &[GIAY_DE_NGHI, GIAY_PHEP_CU],
            form: permit_extension_form,
        },
        ProcedureSeed {
            code: "1.002804",
            national: false,
            name: "Cấp đổi giấy phép lái xe do ngành Giao thông vận tải cấp",
            field: "Đường bộ",
            agency: "000.00.21.H15",
            days: 5.0,
            cutoff: T1500,
            fee_vnd: 135_000,
            fee_note: None,
            online_level: "whole_process",
            documents: &[TK, ANH, GIAY_KHAM],
            form: licence_form,
        },
        ProcedureSeed {
            code: "1.012756",
            national: false,
            name: "Đăng ký, cấp Giấy chứng nhận quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất lần đầu",
            field: "Đất đai",
            agency: "000.00.22.H15",
            days: 20.0,
            cutoff: T1500,
            fee_vnd: 100_000,
            fee_note: None,
            online_level: "partial",
            documents: &[GIAY_DE_NGHI, BAN_VE],
            form: no_form,
        },
        ProcedureSeed {
            code: "1.012757",
            national: false,
            name: "Đăng ký biến động quyền sử dụng đất do chuyển nhượng, tặng cho, thừa kế",
            field: "Đất đai",
            agency: "000.00.22.H15",
            days: 10.0,
            cutoff: T1500,
            fee_vnd: 50_000,
            fee_note: None,
            online_level: "partial",
            documents: &[GIAY_DE_NGHI, GCN_DAT, HOP_DONG],
            form: no_form,
        },
        ProcedureSeed {
            code: "1.012758",
            national: false,
            name: "Cấp đổi Giấy chứng nhận quyền sử dụng đất",
            field: "Đất đai",
            agency: "000.00.22.H15",
            days: 7.0,
            cutoff: T1500,
            fee_vnd: 50_000,
            fee_note: None,
            online_level: "partial",
            documents: &[GIAY_DE_NGHI, GCN_DAT],
            form: no_form,
        },
        ProcedureSeed {
            code: "2.001610",
            national: false,
            name: "Đăng ký thành lập doanh nghiệp tư nhân",
            field: "Thành lập và hoạt động doanh nghiệp",
            agency: "000.00.23.H15",
            days: 3.0,
            cutoff: T1600,
            fee_vnd: 50_000,
            fee_note: Some("Miễn lệ phí khi đăng ký qua mạng"),
            online_level: "whole_process",
            documents: &[GIAY_DE_NGHI],
            form: company_form,
        },
        ProcedureSeed {
            code: "2.002032",
            national: false,
            name: "Đăng ký thành lập công ty trách nhiệm hữu hạn một thành viên",
            field: "Thành lập và hoạt động doanh nghiệp",
            agency: "000.00.23.H15",
            days: 3.0,
            cutoff: T1600,
            fee_vnd: 50_000,
            fee_note: Some("Miễn lệ phí khi đăng ký qua mạng"),
            online_level: "whole_process",
            documents: &[GIAY_DE_NGHI, DIEU_LE],
            form: company_form,
        },
        ProcedureSeed {
            code: "1.011608",
            national: false,
            name: "Cấp giấy phép khai thác nước dưới đất",
            field: "Tài nguyên nước",
            agency: "000.00.22.H15",
            days: 30.0,
            cutoff: T1500,
            fee_vnd: 300_000,
            fee_note: None,
            online_level: "none",
            documents: &[GIAY_DE_NGHI],
            form: no_form,
        },
    ]
}

/// What a load did.
#[derive(Debug, Clone, Serialize)]
pub struct SeedSummary {
    pub agencies: usize,
    pub communes: usize,
    pub procedures: usize,
    /// Procedures whose code is the national database's.
    pub national_codes: usize,
    /// Generated dossiers created by this load.
    pub dossiers_created: usize,
    /// Generated dossiers now in the database.
    pub demo_dossiers: i64,
    /// The lookup PIN of every generated dossier.
    pub demo_pin: &'static str,
    pub elapsed_ms: u128,
}

/// Loads the demo catalogue and tops the generated dossiers up to `dossiers`. Idempotent:
/// a second load with the same number writes nothing new.
pub async fn load(db: &PgPool, master: &MasterKey, dossiers: usize) -> anyhow::Result<SeedSummary> {
    let started = Instant::now();
    let procedures = procedures();
    let mut tx = db.begin().await?;
    for agency in AGENCIES {
        sqlx::query!(
            "INSERT INTO agencies (code, name, province, commune_code) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, province = EXCLUDED.province,
                 commune_code = EXCLUDED.commune_code
             WHERE (agencies.name, agencies.province, agencies.commune_code)
                   IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.province, EXCLUDED.commune_code)",
            agency.code,
            agency.name,
            PROVINCE,
            agency.commune,
        )
        .execute(&mut *tx)
        .await?;
    }
    for (code, name, kind) in COMMUNES {
        sqlx::query!(
            "INSERT INTO communes (code, name, province, kind) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, province = EXCLUDED.province, kind = EXCLUDED.kind",
            code,
            name,
            PROVINCE,
            kind,
        )
        .execute(&mut *tx)
        .await?;
    }
    for p in &procedures {
        upsert_procedure(&mut tx, p).await?;
    }
    tx.commit().await?;

    let existing =
        sqlx::query_scalar!(r#"SELECT count(*) AS "existing!" FROM dossiers WHERE demo"#)
            .fetch_one(db)
            .await?;
    let missing = (dossiers as i64 - existing).max(0) as usize;
    let created = if missing > 0 {
        generate_dossiers(db, master, missing, OffsetDateTime::now_utc()).await?
    } else {
        0
    };
    Ok(SeedSummary {
        agencies: AGENCIES.len(),
        communes: COMMUNES.len(),
        procedures: procedures.len(),
        national_codes: procedures.iter().filter(|p| p.national).count(),
        dossiers_created: created,
        demo_dossiers: existing + created as i64,
        demo_pin: DEMO_PIN,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// The form a procedure's online application fills in: its own, or the generic request when it
/// is partly online without one.
fn procedure_form(p: &ProcedureSeed) -> Option<Value> {
    let fields = (p.form)();
    let schema = (!fields.is_empty()).then(|| form_schema(p.name, fields));
    match (p.online_level, schema) {
        ("none", _) => None,
        (_, Some(schema)) => Some(schema),
        (_, None) => Some(form_schema(
            p.name,
            vec![
                text(
                    "applicant_address",
                    "Địa chỉ liên hệ",
                    "Phường Tuy Hòa, tỉnh Đắk Lắk",
                ),
                text("request", "Nội dung đề nghị", p.name),
            ],
        )),
    }
}

async fn upsert_procedure(conn: &mut sqlx::PgConnection, p: &ProcedureSeed) -> anyhow::Result<()> {
    let schema = procedure_form(p);
    let documents: Vec<Value> = p
        .documents
        .iter()
        .map(|(code, name)| json!({ "code": code, "name": name }))
        .collect();
    sqlx::query!(
        "INSERT INTO procedures (code, name, field, agency_code, processing_days, cutoff, fee_vnd, fee_note,
                                 online_level, required_documents, form_schema)
         VALUES ($1, $2, $3, $4, $5::float8::numeric, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, field = EXCLUDED.field,
             agency_code = EXCLUDED.agency_code, processing_days = EXCLUDED.processing_days,
             cutoff = EXCLUDED.cutoff, fee_vnd = EXCLUDED.fee_vnd, fee_note = EXCLUDED.fee_note,
             online_level = EXCLUDED.online_level, required_documents = EXCLUDED.required_documents,
             form_schema = EXCLUDED.form_schema
         WHERE (procedures.name, procedures.field, procedures.agency_code, procedures.processing_days,
                procedures.cutoff, procedures.fee_vnd, procedures.fee_note, procedures.online_level,
                procedures.required_documents, procedures.form_schema)
               IS DISTINCT FROM
               (EXCLUDED.name, EXCLUDED.field, EXCLUDED.agency_code, EXCLUDED.processing_days,
                EXCLUDED.cutoff, EXCLUDED.fee_vnd, EXCLUDED.fee_note, EXCLUDED.online_level,
                EXCLUDED.required_documents, EXCLUDED.form_schema)",
        p.code,
        p.name,
        p.field,
        p.agency,
        p.days,
        p.cutoff,
        p.fee_vnd,
        p.fee_note,
        p.online_level,
        Value::Array(documents),
        schema,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One generated dossier, before insertion.
struct Generated {
    code: String,
    procedure: String,
    agency: String,
    status: Status,
    online: bool,
    applicant: usize,
    name: String,
    filed_at: OffsetDateTime,
    submitted_at: Option<OffsetDateTime>,
    received_at: Option<OffsetDateTime>,
    due_at: Option<OffsetDateTime>,
    paused_since: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
    processing_ticks: Option<i64>,
    closed_at: Option<OffsetDateTime>,
    events: Vec<(Status, OffsetDateTime)>,
}

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Phan", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
    "Dương", "Lương",
];
const MIDDLE: &[&str] = &[
    "Văn", "Thị", "Minh", "Ngọc", "Quốc", "Thanh", "Hữu", "Thu", "Đức", "Kim",
];
const GIVEN: &[&str] = &[
    "An", "Bình", "Châu", "Dũng", "Hà", "Hải", "Hoa", "Hùng", "Lan", "Long", "Mai", "Nam", "Phúc",
    "Quân", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến",
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A random instant inside a working session of a working day within `days` before `now`.
fn random_receipt(
    rng: &mut StdRng,
    now: OffsetDateTime,
    days: i64,
    holidays: &Holidays,
) -> OffsetDateTime {
    let today = now.to_offset(VIETNAM).date();
    loop {
        let day: Date = today - Duration::days(rng.random_range(0..days));
        if !holidays.is_working_day(day) {
            continue;
        }
        let session = calendar::SESSIONS[rng.random_range(0..calendar::SESSIONS.len())];
        let length = (session.1 - session.0).whole_seconds();
        let at = PrimitiveDateTime::new(day, session.0).assume_offset(VIETNAM)
            + Duration::seconds(rng.random_range(0..length));
        if at < now {
            return at;
        }
    }
}

/// A random instant between `a` and `b` (`a` when empty).
fn between(rng: &mut StdRng, a: OffsetDateTime, b: OffsetDateTime) -> OffsetDateTime {
    let span = (b - a).whole_seconds();
    if span <= 0 {
        a
    } else {
        a + Duration::seconds(rng.random_range(0..span))
    }
}

/// Creates `n` demo dossiers with a realistic spread of procedures, agencies, channels, dates and
/// statuses (a few late, some overdue now), with their timelines, in bulk: a handful of
/// statements, not a round trip per dossier. Codes come from the same daily counters as real
/// registrations, so later registrations continue the sequences.
pub async fn generate_dossiers(
    db: &PgPool,
    master: &MasterKey,
    n: usize,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    if n == 0 {
        return Ok(0);
    }
    let holidays = store::load_holidays(db).await?;
    let catalogue = store::list_procedures(
        db,
        &store::ProcedureQuery {
            limit: 100,
            ..Default::default()
        },
    )
    .await?
    .items;
    anyhow::ensure!(!catalogue.is_empty(), "load the catalogue first");
    let applicants: Vec<Vec<u8>> = (0..DEMO_APPLICANTS)
        .map(|k| model::id_number_hmac(master, &demo_id_number(k)))
        .collect::<anyhow::Result<_>>()?;
    let mut rng = StdRng::seed_from_u64(0x6d6f74637561 ^ n as u64 ^ now.unix_timestamp() as u64);

    let mut tx = db.begin().await?;
    let mut counters = lock_counters(&mut tx).await?;
    let mut generated = Vec::with_capacity(n);
    for _ in 0..n {
        let mut g = generate_one(&mut rng, &catalogue, applicants.len(), &holidays, now)?;
        let day = g.filed_at.to_offset(VIETNAM).date();
        let counter = counters.entry((g.agency.clone(), day)).or_insert(0);
        *counter += 1;
        let agency = AgencyCode::parse(&g.agency)?;
        g.code = DossierCode::new(agency, day, *counter).to_string();
        generated.push(g);
    }

    for chunk in generated.chunks(10_000) {
        insert_chunk(&mut tx, master, &applicants, chunk).await?;
    }
    store_counters(&mut tx, counters).await?;
    tx.commit().await?;
    Ok(n)
}

/// The daily code counters, locked until the transaction ends.
async fn lock_counters(
    tx: &mut sqlx::PgConnection,
) -> anyhow::Result<HashMap<(String, Date), u32>> {
    // Registrations wait while the counters are handed out in bulk.
    sqlx::query!("LOCK TABLE dossier_code_counters IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query!("SELECT agency_code, day, n FROM dossier_code_counters")
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| ((row.agency_code, row.day), row.n.max(0) as u32))
        .collect())
}

async fn store_counters(
    tx: &mut sqlx::PgConnection,
    counters: HashMap<(String, Date), u32>,
) -> anyhow::Result<()> {
    let (agencies, days, values): (Vec<String>, Vec<Date>, Vec<i32>) = counters
        .into_iter()
        .map(|((agency, day), n)| (agency, day, n as i32))
        .fold(
            (Vec::new(), Vec::new(), Vec::new()),
            |mut acc, (a, d, v)| {
                acc.0.push(a);
                acc.1.push(d);
                acc.2.push(v);
                acc
            },
        );
    sqlx::query!(
        "INSERT INTO dossier_code_counters (agency_code, day, n)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::int4[])
         ON CONFLICT (agency_code, day) DO UPDATE SET n = EXCLUDED.n",
        &agencies,
        &days,
        &values,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One dossier without its code: procedure, agency, channel, applicant, dates and how far it got.
fn generate_one(
    rng: &mut StdRng,
    catalogue: &[store::Procedure],
    applicants: usize,
    holidays: &Holidays,
    now: OffsetDateTime,
) -> anyhow::Result<Generated> {
    let procedure = pick(rng, catalogue);
    let agency = if COMMUNE_AGENCIES.contains(&procedure.agency_code.as_str()) {
        pick(rng, COMMUNE_AGENCIES).to_string()
    } else {
        procedure.agency_code.clone()
    };
    let online = match procedure.online_level.as_str() {
        "whole_process" => rng.random_bool(0.45),
        "partial" => rng.random_bool(0.2),
        _ => false,
    };
    let processing = procedure.processing_time()?;
    let received = random_receipt(rng, now, 400, holidays);
    let submitted = online.then(|| received - Duration::minutes(rng.random_range(5..3000)));
    let filed_at = submitted.unwrap_or(received);
    let due = calendar::due_at(received, processing, procedure.cutoff, holidays);
    let mut g = Generated {
        code: String::new(),
        procedure: procedure.code.clone(),
        agency,
        status: Status::Received,
        online,
        applicant: rng.random_range(0..applicants),
        name: model::mask_name(&format!(
            "{} {} {}",
            pick(rng, FAMILY),
            pick(rng, MIDDLE),
            pick(rng, GIVEN)
        )),
        filed_at,
        submitted_at: submitted,
        received_at: Some(received),
        due_at: Some(due),
        paused_since: None,
        finished_at: None,
        processing_ticks: None,
        closed_at: None,
        events: Vec::new(),
    };
    if let Some(at) = submitted {
        g.events.push((Status::Submitted, at));
    }
    let roll: f64 = rng.random();
    let started = received + Duration::minutes(rng.random_range(10..240));
    if online && roll < 0.02 && filed_at > now - Duration::days(3) {
        // Still waiting to be received.
        g.status = Status::Submitted;
        g.received_at = None;
        g.due_at = None;
    } else if online && roll < 0.04 {
        g.status = Status::Refused;
        g.received_at = None;
        g.due_at = None;
        g.closed_at = Some(received);
        g.events.push((Status::Refused, received));
    } else {
        g.events.push((Status::Received, received));
        progress(rng, &mut g, received, started, due, now, holidays);
    }
    Ok(g)
}

/// What became of a received dossier: finished (mostly on time), still open (some overdue now),
/// or withdrawn or stopped.
fn progress(
    rng: &mut StdRng,
    g: &mut Generated,
    received: OffsetDateTime,
    started: OffsetDateTime,
    due: OffsetDateTime,
    now: OffsetDateTime,
    holidays: &Holidays,
) {
    let overdue_now = due < now;
    let outcome: f64 = rng.random();
    if overdue_now && outcome < 0.86 || !overdue_now && outcome < 0.3 {
        // Finished: mostly on time, some late.
        let late = overdue_now && rng.random_bool(0.12);
        let finished = if late {
            between(rng, due, now.min(due + Duration::days(20)))
        } else {
            between(rng, started, due.min(now))
        };
        let finished = finished.max(started);
        g.events.push((Status::Processing, started));
        g.events.push((Status::ResultReady, finished));
        g.finished_at = Some(finished);
        g.processing_ticks = Some(
            calendar::working_time_between(received, finished, holidays)
                .0
                .max(0),
        );
        g.status = Status::ResultReady;
        if finished < now - Duration::days(2) || rng.random_bool(0.5) {
            let returned = between(rng, finished, now.min(finished + Duration::days(5)));
            g.events.push((Status::Returned, returned));
            g.status = Status::Returned;
            g.closed_at = Some(returned);
        }
    } else if outcome < 0.93 {
        // Still open: some overdue now.
        g.events.push((Status::Processing, started.min(now)));
        g.status = match rng.random_range(0..10) {
            0 => Status::Received,
            1 | 2 => Status::SupplementRequested,
            3 => Status::AwaitingFee,
            _ => Status::Processing,
        };
        match g.status {
            Status::Received => {
                g.events.pop();
            }
            Status::SupplementRequested | Status::AwaitingFee => {
                let at = between(rng, started.min(now), due.min(now));
                g.events.push((g.status, at));
                if g.status == Status::SupplementRequested {
                    g.paused_since = Some(at);
                }
            }
            _ => {}
        }
    } else {
        let status = if rng.random_bool(0.6) {
            Status::Withdrawn
        } else {
            Status::Stopped
        };
        let at = between(rng, received, due.min(now));
        g.events.push((status, at));
        g.status = status;
        g.closed_at = Some(at);
    }
}

async fn insert_chunk(
    tx: &mut sqlx::PgConnection,
    master: &MasterKey,
    applicants: &[Vec<u8>],
    chunk: &[Generated],
) -> anyhow::Result<()> {
    let mut pin_hashes = Vec::with_capacity(chunk.len());
    for g in chunk {
        pin_hashes.push(model::lookup_pin_hash(master, &g.code, DEMO_PIN)?);
    }
    sqlx::query!(
        "INSERT INTO dossiers (code, procedure_code, agency_code, status, online, applicant_id_hmac, applicant_name_masked,
                               filed_at, submitted_at, received_at, due_at, paused_since, finished_at, processing_ticks,
                               closed_at, lookup_pin_hash, demo)
         SELECT *, true FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bytea[], $7::text[],
                                    $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
                                    $12::timestamptz[], $13::timestamptz[], $14::int8[], $15::timestamptz[], $16::bytea[])",
        &chunk.iter().map(|g| g.code.clone()).collect::<Vec<_>>(),
        &chunk.iter().map(|g| g.procedure.clone()).collect::<Vec<_>>(),
        &chunk.iter().map(|g| g.agency.clone()).collect::<Vec<_>>(),
        chunk.iter().map(|g| g.status.as_str()).collect::<Vec<_>>() as _,
        &chunk.iter().map(|g| g.online).collect::<Vec<_>>(),
        &chunk.iter().map(|g| applicants[g.applicant].clone()).collect::<Vec<_>>(),
        &chunk.iter().map(|g| g.name.clone()).collect::<Vec<_>>(),
        &chunk.iter().map(|g| g.filed_at).collect::<Vec<_>>(),
        // Columns with gaps: arrays of options, which the macros cannot check against `T[]`.
        chunk.iter().map(|g| g.submitted_at).collect::<Vec<_>>() as _,
        chunk.iter().map(|g| g.received_at).collect::<Vec<_>>() as _,
        chunk.iter().map(|g| g.due_at).collect::<Vec<_>>() as _,
        chunk.iter().map(|g| g.paused_since).collect::<Vec<_>>() as _,
        chunk.iter().map(|g| g.finished_at).collect::<Vec<_>>() as _,
        chunk.iter().map(|g| g.processing_ticks).collect::<Vec<_>>() as _,
        chunk.iter().map(|g| g.closed_at).collect::<Vec<_>>() as _,
        &pin_hashes,
    )
    .execute(&mut *tx)
    .await?;

    let mut codes = Vec::new();
    let mut seqs = Vec::new();
    let mut statuses = Vec::new();
    let mut ats = Vec::new();
    for g in chunk {
        for (i, (status, at)) in g.events.iter().enumerate() {
            codes.push(g.code.clone());
            seqs.push(i as i32 + 1);
            statuses.push(status.as_str());
            ats.push(*at);
        }
    }
    sqlx::query!(
        "INSERT INTO dossier_events (dossier_code, seq, kind, status, at, actor)
         SELECT code, seq, 'status', status, at, 'system' FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::timestamptz[])
                AS e (code, seq, status, at)",
        &codes,
        &seqs,
        &statuses as _,
        &ats,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dossiers::calendar::WorkingTime;

    #[test]
    fn the_catalogue_is_consistent() {
        let procedures = procedures();
        assert!(procedures.len() >= 20);
        let agencies: Vec<&str> = AGENCIES.iter().map(|a| a.code).collect();
        assert!(agencies.len() >= 5);
        for code in &agencies {
            assert!(AgencyCode::parse(code).is_ok(), "{code}");
        }
        let mut codes = std::collections::HashSet::new();
        for p in &procedures {
            assert!(codes.insert(p.code), "duplicate {}", p.code);
            assert!(agencies.contains(&p.agency), "{}", p.code);
            assert!(WorkingTime::from_days(p.days).is_ok(), "{}", p.code);
            assert!(!p.documents.is_empty(), "{}", p.code);
            if p.online_level == "whole_process" {
                assert!(!(p.form)().is_empty(), "{} needs a form", p.code);
            }
        }
        assert!(procedures.iter().filter(|p| p.national).count() >= 4);
    }

    /// The schema's own example satisfies what the schema asks, as far as this crate can tell
    /// without a validator: every required field present, types and enums respected.
    #[test]
    fn every_form_schema_carries_a_valid_example() {
        for p in procedures() {
            let fields = (p.form)();
            if fields.is_empty() {
                continue;
            }
            let schema = form_schema(p.name, fields);
            let example = &schema["examples"][0];
            for name in schema["required"].as_array().unwrap() {
                let name = name.as_str().unwrap();
                let value = &example[name];
                let property = &schema["properties"][name];
                match property["type"].as_str().unwrap() {
                    "string" => assert!(value.is_string(), "{} {name}", p.code),
                    "integer" => assert!(value.is_i64(), "{} {name}", p.code),
                    other => panic!("unexpected type {other}"),
                }
                if let Some(options) = property["enum"].as_array() {
                    assert!(options.contains(value), "{} {name}", p.code);
                }
                if property["pattern"].is_string() {
                    assert!(
                        model::valid_id_number(value.as_str().unwrap()),
                        "{} {name}",
                        p.code
                    );
                }
            }
            assert_eq!(
                example.as_object().unwrap().len(),
                schema["properties"].as_object().unwrap().len()
            );
        }
    }

    #[test]
    fn demo_id_numbers_are_valid() {
        for k in [0, 1, DEMO_APPLICANTS - 1, DEMO_APPLICANTS] {
            assert!(model::valid_id_number(&demo_id_number(k)), "{k}");
        }
    }
}
