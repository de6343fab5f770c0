resource "azurerm_servicebus_namespace" "events" {
  name                = "${var.name_prefix}-events"
  resource_group_name = data.azurerm_resource_group.this.name
  location            = var.location
  # Standard is the lowest tier with topics and subscriptions.
  sku                = "Standard"
  local_auth_enabled = false
  tags               = var.tags
}

resource "azurerm_servicebus_topic" "events" {
  name         = "tidemark-events"
  namespace_id = azurerm_servicebus_namespace.events.id
  # Publishers retry from their outbox; duplicate detection drops a message sent twice (same CloudEvent id).
  requires_duplicate_detection            = true
  duplicate_detection_history_time_window = "PT1H"
  default_message_ttl                     = "P14D"
}

# The filters read the application properties each message repeats from its CloudEvent (DESIGN §6).
locals {
  subscriptions = {
    retention = "type = 'tidemark.backup.verified'"
    alerts    = "severity IN ('error', 'critical')"
    notifier  = null # every event: recoveries (backup.verified, overdue recovered) are info and resolve conditions
    audit     = null
    cli       = null # `tidemark events --follow` (TIDEMARK_EVENTS_SUBSCRIPTION defaults to cli)
  }
}

resource "azurerm_servicebus_subscription" "events" {
  for_each                             = local.subscriptions
  name                                 = each.key
  topic_id                             = azurerm_servicebus_topic.events.id
  max_delivery_count                   = 10
  lock_duration                        = "PT1M"
  dead_lettering_on_message_expiration = true
  default_message_ttl                  = each.key == "audit" ? "P14D" : each.key == "cli" ? "PT1H" : "P7D"
}

# A subscription starts with the catch-all $Default rule, which Service Bus drops when the first rule is
# added through ARM; until then (seconds, at creation only) retention/alerts may see other events, which
# their consumers ignore by type anyway. audit and notifier keep $Default: they receive every event.
resource "azurerm_servicebus_subscription_rule" "filter" {
  for_each        = { for name, sql in local.subscriptions : name => sql if sql != null }
  name            = "${each.key}-filter"
  subscription_id = azurerm_servicebus_subscription.events[each.key].id
  filter_type     = "SqlFilter"
  sql_filter      = each.value
}
