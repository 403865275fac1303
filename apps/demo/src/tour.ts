/**
 * The curl tour, printed at start and served at `GET /`. `admin`: whether the admin API is on
 * (the token itself is never printed).
 */
export function tourText(baseUrl: string, admin: boolean): string {
  const u = baseUrl.replace(/\/$/, "");
  const json = "-H 'content-type: application/json'";
  const lines = [
    `Eventferry demo shop at ${u}`,
    "",
    "Place an order (order row + order.created commit together through the outbox):",
    `  curl -s ${json} -d '{"customerId":"c-1","email":"ada@example.com","phone":"+15550100","items":[{"sku":"book","quantity":2,"unitPrice":12.5}]}' ${u}/orders`,
    "See the email, SMS and (flaky, retried) webhook notifications, and the customer's stats:",
    `  curl -s ${u}/notifications`,
    `  curl -s ${u}/customers/c-1/stats`,
    "An order whose webhook never succeeds ends in the dead letters:",
    `  curl -s ${json} -d '{"customerId":"flaky-forever","email":"bob@example.com","items":[{"sku":"pen","quantity":1,"unitPrice":3}]}' ${u}/orders`,
    "A payment failure over $1,000 raises an alert:",
    `  curl -s ${json} -d '{"orderId":"o-1","customerId":"c-1","amount":2500,"reason":"card declined"}' ${u}/payments/failed`,
    `  curl -s ${u}/alerts`,
    "Users and subscriptions (the renewal reminder is a delayed event):",
    `  curl -s ${json} -d '{"email":"cy@example.com","name":"Cy"}' ${u}/users`,
    `  curl -s ${json} -d '{"customerId":"c-1","email":"ada@example.com","plan":"pro"}' ${u}/subscriptions`,
    "Query and replay the event log, the audit trail, health:",
    `  curl -s '${u}/events?pattern=order.*&limit=10'`,
    `  curl -s '${u}/events?key=c-1&after=0'`,
    `  curl -s ${u}/audit`,
    `  curl -s ${u}/health`,
    "Prometheus metrics (events handled, retries, dead letters, lag, inbox depth):",
    `  curl -s ${u}/metrics`,
    "Put load on it (a progress line every second):",
    `  pnpm demo:load --url ${u} --rate 200 --duration 30s`,
  ];
  if (admin) {
    lines.push(
      "Dead letters (admin API; set TOKEN to EVENTFERRY_ADMIN_TOKEN):",
      `  curl -s -H "authorization: Bearer $TOKEN" ${u}/admin/dead-letters`,
      `  curl -s -X POST -H "authorization: Bearer $TOKEN" ${u}/admin/dead-letters/<id>/retry`,
      `  curl -s -X DELETE -H "authorization: Bearer $TOKEN" ${u}/admin/dead-letters/<id>`,
    );
  } else {
    lines.push(
      "The admin API (dead letters) is off: start with EVENTFERRY_ADMIN_TOKEN=<16+ chars> to turn it on.",
    );
  }
  return `${lines.join("\n")}\n`;
}
