//! TEMPORARY STUB — replaced by the real module.
#[derive(Debug, Clone, Default)]
pub struct Agreement {}
impl Agreement {
    pub fn new() -> Self {
        Agreement {}
    }
    pub fn add_item(&mut self, _counts: &[u64]) {}
    pub fn add_category_total(&mut self, _n_c: u64) {}
    pub fn finish(&self) -> AgreementStats {
        AgreementStats {
            percent_agreement: None,
            fleiss_kappa: None,
            krippendorff_alpha: None,
        }
    }
}
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AgreementStats {
    pub percent_agreement: Option<f64>,
    pub fleiss_kappa: Option<f64>,
    pub krippendorff_alpha: Option<f64>,
}
pub fn cohen_kappa_from_counts(n: u64, agreements: u64, sum_products: u64) -> Option<f64> {
    let _ = (n, agreements, sum_products);
    None
}
