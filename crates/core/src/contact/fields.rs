//! The Microsoft contact fields a mapping may name, and CRM field descriptors.
//!
//! The Microsoft list is the writable, user-visible part of the Graph v1.0 `contact` resource
//! (`reference/graph-api.md` §2). Not offered: `displayName` (Outlook regenerates it from the
//! name parts; the projection composes it), `categories` (Outlook category names are a separate
//! master list), and read-only or navigation properties (`parentFolderId`, `changeKey`,
//! `createdDateTime`, `lastModifiedDateTime`, `photo`, extensions, extended properties).

use serde::{Deserialize, Serialize};

use crate::value::TextForm;

/// What a Microsoft field holds, which decides normalisation and type compatibility.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsContent {
    /// One line of text (names, job title, address parts...).
    Line,
    /// Free text with line breaks (`personalNotes`).
    Multiline,
    /// Email addresses.
    Email,
    /// Phone numbers.
    Phone,
    /// A web address.
    Url,
    /// A calendar date (`birthday`).
    Date,
}

impl MsContent {
    /// The normalisation of a text of this content.
    #[must_use]
    pub fn text_form(self) -> TextForm {
        match self {
            Self::Multiline => TextForm::Multiline,
            Self::Email => TextForm::Email,
            _ => TextForm::Line,
        }
    }
}

/// Whether a Microsoft field holds one value or a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum MsShape {
    /// One value. Exactly one CRM field may map to it.
    Scalar,
    /// An ordered list. Several CRM fields may map to it (in mapping order); Graph accepts at
    /// most `capacity` entries (`None`: no known limit).
    List {
        /// Most entries Graph accepts.
        capacity: Option<usize>,
    },
}

/// One mappable Microsoft contact field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MsField {
    /// Field id: the Graph property name, or `address.part` for address parts
    /// (for example `businessAddress.city`).
    pub id: &'static str,
    /// English label for the mapping dialog.
    pub label: &'static str,
    /// Content kind.
    pub content: MsContent,
    /// Scalar or list.
    pub shape: MsShape,
}

const fn line(id: &'static str, label: &'static str) -> MsField {
    MsField {
        id,
        label,
        content: MsContent::Line,
        shape: MsShape::Scalar,
    }
}

const fn list(
    id: &'static str,
    label: &'static str,
    content: MsContent,
    capacity: Option<usize>,
) -> MsField {
    MsField {
        id,
        label,
        content,
        shape: MsShape::List { capacity },
    }
}

/// Graph rejects more than 3 `emailAddresses` (HTTP 400; microsoft-graph-docs#15276).
pub const MAX_EMAILS: usize = 3;
/// Graph rejects more than 2 `businessPhones` (HTTP 400; microsoft-graph-docs#15276).
pub const MAX_BUSINESS_PHONES: usize = 2;
/// `homePhones` is assumed to share the business-phone limit (graph-api.md §2, marked as an
/// assumption there).
pub const MAX_HOME_PHONES: usize = 2;

/// Every Microsoft contact field a mapping may name. The mapping dialog offers exactly these.
pub const MS_CONTACT_FIELDS: &[MsField] = &[
    line("givenName", "First name"),
    line("middleName", "Middle name"),
    line("surname", "Last name"),
    line("nickName", "Nickname"),
    line("title", "Title (salutation)"),
    line("generation", "Suffix"),
    line("initials", "Initials"),
    line("fileAs", "File as"),
    line("yomiGivenName", "Yomi first name"),
    line("yomiSurname", "Yomi last name"),
    line("yomiCompanyName", "Yomi company name"),
    line("companyName", "Company"),
    line("department", "Department"),
    line("jobTitle", "Job title"),
    line("officeLocation", "Office location"),
    line("profession", "Profession"),
    line("manager", "Manager"),
    line("assistantName", "Assistant"),
    MsField {
        id: "businessHomePage",
        label: "Business home page",
        content: MsContent::Url,
        shape: MsShape::Scalar,
    },
    list(
        "emailAddresses",
        "Email addresses",
        MsContent::Email,
        Some(MAX_EMAILS),
    ),
    list("imAddresses", "IM addresses", MsContent::Line, None),
    list(
        "businessPhones",
        "Business phones",
        MsContent::Phone,
        Some(MAX_BUSINESS_PHONES),
    ),
    list(
        "homePhones",
        "Home phones",
        MsContent::Phone,
        Some(MAX_HOME_PHONES),
    ),
    MsField {
        id: "mobilePhone",
        label: "Mobile phone",
        content: MsContent::Phone,
        shape: MsShape::Scalar,
    },
    line("businessAddress.street", "Business street"),
    line("businessAddress.city", "Business city"),
    line("businessAddress.state", "Business state"),
    line("businessAddress.postalCode", "Business postal code"),
    line("businessAddress.countryOrRegion", "Business country/region"),
    line("homeAddress.street", "Home street"),
    line("homeAddress.city", "Home city"),
    line("homeAddress.state", "Home state"),
    line("homeAddress.postalCode", "Home postal code"),
    line("homeAddress.countryOrRegion", "Home country/region"),
    line("otherAddress.street", "Other street"),
    line("otherAddress.city", "Other city"),
    line("otherAddress.state", "Other state"),
    line("otherAddress.postalCode", "Other postal code"),
    line("otherAddress.countryOrRegion", "Other country/region"),
    MsField {
        id: "birthday",
        label: "Birthday",
        content: MsContent::Date,
        shape: MsShape::Scalar,
    },
    MsField {
        id: "personalNotes",
        label: "Notes",
        content: MsContent::Multiline,
        shape: MsShape::Scalar,
    },
    line("spouseName", "Spouse"),
    list("children", "Children", MsContent::Line, None),
];

/// Looks up a mappable Microsoft contact field by id.
#[must_use]
pub fn ms_field(id: &str) -> Option<&'static MsField> {
    MS_CONTACT_FIELDS.iter().find(|f| f.id == id)
}

/// A CRM field's data type (Zoho `data_type` in the fields metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmType {
    /// `text`
    Text,
    /// `textarea`
    TextArea,
    /// `email`
    Email,
    /// `phone`
    Phone,
    /// `picklist`
    Picklist,
    /// `website`
    Website,
    /// `lookup` (read as the looked-up record's name)
    Lookup,
    /// `date`
    Date,
    /// Any other type (datetime, boolean, numbers, multi-select...): not mappable to contacts.
    Other(String),
}

impl CrmType {
    /// Parses Zoho's `data_type` string.
    #[must_use]
    pub fn from_api(data_type: &str) -> Self {
        match data_type {
            "text" => Self::Text,
            "textarea" => Self::TextArea,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "picklist" => Self::Picklist,
            "website" => Self::Website,
            "lookup" => Self::Lookup,
            "date" => Self::Date,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether values of this type can be carried by a Microsoft field of `content`.
    #[must_use]
    pub fn compatible_with(&self, content: MsContent) -> bool {
        use CrmType as C;
        match content {
            MsContent::Line => matches!(
                self,
                C::Text | C::Picklist | C::Lookup | C::Email | C::Phone | C::Website
            ),
            MsContent::Multiline => matches!(self, C::Text | C::TextArea),
            MsContent::Email => matches!(self, C::Email | C::Text),
            MsContent::Phone => matches!(self, C::Phone | C::Text),
            MsContent::Url => matches!(self, C::Website | C::Text),
            MsContent::Date => matches!(self, C::Date),
        }
    }
}

/// A CRM field as described by the CRM's fields metadata (`GET /settings/fields?module=Contacts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmField {
    /// API name, for example `First_Name` or a custom `Email_3__c`.
    pub api_name: String,
    /// Data type.
    pub data_type: CrmType,
    /// Maximum length in characters, when the metadata gives one.
    pub length: Option<usize>,
    /// Read-only fields cannot be written, so they cannot take part in a two-way mapping.
    pub read_only: bool,
    /// The CRM refuses a record without it (Zoho `system_mandatory`; Contacts: `Last_Name`).
    #[serde(default)]
    pub mandatory: bool,
    /// A custom (user-created) field. Custom fields may be mapped like standard ones.
    pub custom: bool,
}

impl CrmField {
    /// A standard (non-custom, writable) field.
    #[must_use]
    pub fn standard(api_name: &str, data_type: CrmType, length: Option<usize>) -> Self {
        Self {
            api_name: api_name.to_owned(),
            data_type,
            length,
            read_only: false,
            mandatory: false,
            custom: false,
        }
    }
}

/// The standard Zoho Contacts fields used by the default mapping, for when the fields metadata
/// has not been fetched yet. Lengths are left unknown (`None`): the real limits come from the
/// org's metadata, which the engine should pass to validation whenever it has it.
#[must_use]
pub fn standard_crm_contact_fields() -> Vec<CrmField> {
    use CrmType as C;
    let mut out = vec![
        CrmField::standard("Salutation", C::Picklist, None),
        CrmField::standard("First_Name", C::Text, None),
        CrmField {
            mandatory: true,
            ..CrmField::standard("Last_Name", C::Text, None)
        },
        CrmField::standard("Email", C::Email, None),
        CrmField::standard("Secondary_Email", C::Email, None),
        CrmField::standard("Phone", C::Phone, None),
        CrmField::standard("Other_Phone", C::Phone, None),
        CrmField::standard("Mobile", C::Phone, None),
        CrmField::standard("Home_Phone", C::Phone, None),
        CrmField::standard("Asst_Phone", C::Phone, None),
        CrmField::standard("Fax", C::Phone, None),
        CrmField::standard("Assistant", C::Text, None),
        CrmField::standard("Title", C::Text, None),
        CrmField::standard("Department", C::Text, None),
        CrmField::standard("Account_Name", C::Lookup, None),
        CrmField::standard("Date_of_Birth", C::Date, None),
        CrmField::standard("Description", C::TextArea, None),
        CrmField::standard("Skype_ID", C::Text, None),
        CrmField::standard("Twitter", C::Text, None),
        CrmField::standard("Lead_Source", C::Picklist, None),
    ];
    for prefix in ["Mailing", "Other"] {
        for part in ["Street", "City", "State", "Zip", "Country"] {
            out.push(CrmField::standard(
                &format!("{prefix}_{part}"),
                C::Text,
                None,
            ));
        }
    }
    out
}
