// npm run demo-catalogue: adds a small demo catalogue to DATA_DIR's database.
// Safe to run again: whatever is already there is left as it is.
import { loadConfig } from '../config.js'
import { openStore } from '../db/index.js'
import type { CatalogueEntry } from '../store/catalogue.js'
import { createRepositories } from '../store/index.js'
import { runCommand } from './run-command.js'

const DEMO_CATALOGUE: CatalogueEntry[] = [
  {
    category: 'Coffee',
    products: [
      {
        name: 'Ethiopia Yirgacheffe, whole beans 250 g',
        description: 'Washed heirloom Arabica, light roast. Notes of jasmine, bergamot and lemon.',
        priceCents: 1450,
        stock: 40
      },
      {
        name: 'Colombia Huila, ground 500 g',
        description: 'Medium roast for filter and French press. Caramel, red apple, milk chocolate.',
        priceCents: 1990,
        stock: 25
      },
      {
        name: 'Espresso Blend No. 3, whole beans 1 kg',
        description: 'Brazil and Guatemala, roasted for espresso: dense crema, cocoa and hazelnut.',
        priceCents: 3200,
        stock: 12
      }
    ]
  },
  {
    category: 'Brewing Equipment',
    products: [
      {
        name: 'Pour-over dripper, ceramic',
        description: 'Cone dripper for size 02 filters; glazed porcelain keeps the brew temperature steady.',
        priceCents: 2400,
        stock: 18
      },
      {
        name: 'Gooseneck kettle 1 l',
        description: 'Stainless steel stovetop kettle with a thermometer in the lid and a slow, precise spout.',
        priceCents: 4900,
        stock: 9
      },
      {
        name: 'Hand grinder with steel burrs',
        description: '38 mm conical burrs, 30 click settings from espresso to cold brew.',
        priceCents: 8900,
        stock: 6
      }
    ]
  },
  {
    category: 'Mugs & Cups',
    products: [
      {
        name: 'Stoneware mug 350 ml',
        description: 'Hand-glazed, dishwasher safe. Each glaze comes out slightly different.',
        priceCents: 1800,
        stock: 30
      },
      {
        name: 'Double-walled glass cups, set of 2',
        description: 'Borosilicate glass, 200 ml each; the drink stays hot and the outside stays cool.',
        priceCents: 2200,
        stock: 0
      }
    ]
  }
]

async function main (): Promise<void> {
  const config = loadConfig()
  const store = await openStore(config)
  try {
    const { catalogue } = await createRepositories(store, { loginMaxFailures: config.loginMaxFailures })
    const report = await catalogue.loadCatalogue(DEMO_CATALOGUE)
    console.log(`Demo catalogue in ${config.databaseUrl ? 'PostgreSQL' : config.dataDir}`)
    console.log(`categories: ${report.categoriesCreated.length} added, ${report.categoriesExisting.length} already there`)
    for (const name of report.categoriesCreated) console.log(`  + ${name}`)
    console.log(`products: ${report.productsCreated.length} added, ${report.productsExisting.length} already there`)
    for (const name of report.productsCreated) console.log(`  + ${name}`)
  } finally {
    await store.close()
  }
}

await runCommand(main)
