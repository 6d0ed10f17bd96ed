/**
 * onceflow → Google Ads offline conversions (Google Ads → Tools → Bulk actions → Scripts).
 *
 * Paste this file into a new script, set CONFIG below (the export token comes from
 * `POST /v1/tenants/{tenantId}/credentials`), authorize it, and schedule it hourly.
 *
 * Each run, for conversions and then retractions:
 *   1. GET  {baseUrl}/oci/google-ads-export?kind=...&limit=...  → rows claimed for this run
 *   2. AdsApp.bulkUploads().newCsvUpload(...).forOfflineConversions(), one row per conversion,
 *      each carrying its Order ID (Google counts one conversion per order id, so a re-upload
 *      after any crash is harmless), in the import templates' formats, then apply()
 *   3. POST {baseUrl}/oci/ack  with what the script knows of each row
 * If the script dies between 1 and 3, onceflow returns the rows to `retry` after its stale window
 * (15 minutes) and the next run uploads them again with the same order ids.
 *
 * What the script can know: `CsvUpload.apply()` returns nothing, and the Scripts API has no call
 * that reads an upload's per-row results back (AdsApp.CsvUpload reference:
 * https://developers.google.com/google-ads/scripts/docs/reference/adsapp/adsapp_csvupload; the
 * results are in Google Ads → Tools → Bulk actions → Uploads). So a row is never acked `completed`
 * here: after `apply()` it is acked `uploaded` (handed to Google, result unknown to onceflow), and
 * `retry` if `apply()` threw. Google's per-row answers, downloaded from the Uploads page, can be
 * acked later by order id (`{"orderId", "status": "failed", "error": "<Google's code>"}`); onceflow
 * never uploads an `uploaded` row again. A conversion is exported no earlier than its click + 6
 * hours, so Google's TOO_RECENT_EVENT refusal (invisible here) is never provoked.
 */
const CONFIG = {
  baseUrl: 'https://api.example.com',
  exportToken: 'of_exp_REPLACE_ME',
  /** Rows per run and kind (onceflow caps it at 2,000). */
  limit: 2000,
  /** Preview instead of apply: nothing reaches Google and nothing is acked. */
  dryRun: false,
};

const CONVERSION_COLUMNS = [
  'Google Click ID',
  'GBRAID',
  'WBRAID',
  'Conversion Name',
  'Conversion Time',
  'Conversion Value',
  'Conversion Currency',
  'Order ID',
];

const ADJUSTMENT_COLUMNS = [
  'Order ID',
  'Conversion Name',
  'Adjustment Time',
  'Adjustment Type',
  'Adjusted Value',
  'Adjusted Value Currency',
];

// biome-ignore lint/correctness/noUnusedVariables: Google Ads runs main() itself.
function main() {
  const conversions = runKind('conversions');
  const adjustments = runKind('adjustments');
  Logger.log(
    'onceflow: uploaded ' +
      conversions.uploaded +
      ' conversion(s), ' +
      adjustments.uploaded +
      ' retraction(s); acked ' +
      (conversions.acked + adjustments.acked) +
      ' row(s)',
  );
  return { conversions: conversions, adjustments: adjustments };
}

function api(method, path, payload) {
  const options = {
    method: method,
    headers: { Authorization: `Bearer ${CONFIG.exportToken}` },
    muteHttpExceptions: true,
  };
  if (payload !== undefined) {
    options.contentType = 'application/json';
    options.payload = JSON.stringify(payload);
  }
  const response = UrlFetchApp.fetch(CONFIG.baseUrl.replace(/\/$/, '') + path, options);
  const code = response.getResponseCode();
  if (code !== 200) {
    throw new Error(`onceflow ${method} ${path} answered ${code}: ${response.getContentText()}`);
  }
  return JSON.parse(response.getContentText());
}

/**
 * A row in Google's import templates: the action's name as the account shows it, times as
 * `yyyy-MM-dd HH:mm:ss` in the upload's time zone, the adjustment type as the adjustment template
 * spells it (`RETRACT`); onceflow sends each ready (`csv*` fields).
 */
function toCsvRow(kind, row) {
  if (kind === 'conversions') {
    return {
      'Google Click ID': row.gclid || '',
      GBRAID: row.gbraid || '',
      WBRAID: row.wbraid || '',
      'Conversion Name': row.conversionName,
      'Conversion Time': row.csvConversionTime,
      'Conversion Value': row.value,
      'Conversion Currency': row.currency,
      'Order ID': row.orderId,
    };
  }
  return {
    'Order ID': row.orderId,
    'Conversion Name': row.conversionName,
    'Adjustment Time': row.csvAdjustmentTime,
    'Adjustment Type': row.csvAdjustmentType,
    'Adjusted Value': '',
    'Adjusted Value Currency': '',
  };
}

function runKind(kind) {
  const exported = api('GET', `/oci/google-ads-export?kind=${kind}&limit=${CONFIG.limit}`);
  const rows = exported.rows || [];
  if (rows.length === 0) return { uploaded: 0, acked: 0 };
  const upload = AdsApp.bulkUploads()
    .newCsvUpload(kind === 'conversions' ? CONVERSION_COLUMNS : ADJUSTMENT_COLUMNS, {
      moneyInMicros: false,
      timeZone: exported.timeZone || '+0000',
    })
    .forOfflineConversions();
  upload.setFileName(`onceflow ${kind} ${exported.claimId}`);
  for (const row of rows) upload.append(toCsvRow(kind, row));
  if (CONFIG.dryRun) {
    upload.preview();
    return { uploaded: 0, acked: 0 };
  }
  let results;
  try {
    upload.apply();
    // Google took the file. Its per-row results are not readable from a script: `uploaded`, never
    // `completed` blind (see the header).
    results = rows.map((row) => ({ orderId: row.orderId, status: 'uploaded' }));
  } catch (e) {
    // The file as a whole was refused (quota, a transient error): upload again on a later run;
    // the same Order IDs make that safe.
    Logger.log(`onceflow: bulk upload failed, rows go back to retry: ${e}`);
    results = rows.map((row) => ({ orderId: row.orderId, status: 'retry' }));
  }
  const acked = api('POST', '/oci/ack', { kind: kind, results: results });
  return { uploaded: rows.length, acked: acked.updated };
}
