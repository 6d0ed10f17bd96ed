/** The OCI metric names, in one place (named in the metrics catalogue by the ops engineer). */
export const OciMetric = {
  Sealed: 'OciSealed',
  DuplicateSeal: 'OciDuplicateSeal',
  StaleRecovered: 'OciStaleRecovered',
  RowsClaimed: 'OciRowsClaimed',
  RowsCompleted: 'OciRowsCompleted',
  RowsRetry: 'OciRowsRetry',
  RowsFailed: 'OciRowsFailed',
  Withdrawn: 'OciWithdrawn',
  RetractionRequested: 'OciRetractionRequested',
  UploadAccepted: 'GoogleAdsUploadAccepted',
  UploadUnknown: 'GoogleAdsUploadUnknown',
  UploadRejected: 'GoogleAdsUploadRejected',
  QuotaExceeded: 'GoogleAdsQuotaExceeded',
  VersionRejected: 'ProviderVersionRejected',
  RowsUnconfirmed: 'OciRowsUnconfirmed',
} as const;
