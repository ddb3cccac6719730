/*
 * grammar.h - the phrase grammar of corpus/gen: every word of filler text
 * the generator can write, in Simplified Chinese.  Traditional renderings
 * are made from it once at start-up with ICU's Simplified-Traditional
 * transliterator, full-width ones by folding ASCII letters and digits.
 *
 * A rule is a name with alternatives; rows with the same name add
 * alternatives.  Inside an alternative:
 *     {name}        expand another rule
 *     {$name}       a per-notice variable (purchaser, agency, project, ...),
 *                   bound once so the notice stays consistent
 *     {#gen args}   a value made by code: #int A B, #date KEY, #datetime KEY,
 *                   #money KEY, #capmoney, #pno, #phone, #mobile, #n, #year,
 *                   #reqs (the requirement list), #mentions (planted
 *                   mentions), #plant (the watch-list name being planted)
 * An alternative starting with '|' is a list: '|a|b|c' is three
 * alternatives.  "%N " at the start of an alternative gives it weight N.
 *
 * Nothing here may contain a watch-list alias after normalization: the
 * generator checks every piece against the loaded watch list at start-up
 * and drops alternatives that do (see README.md, "Exact ground truth").
 */
#ifndef TDX_CORPUS_GRAMMAR_H
#define TDX_CORPUS_GRAMMAR_H

typedef struct gram_row {
    const char *rule;
    const char *alt;
} gram_row;

/* Provinces with their suffix and a few prefecture-level cities. */
typedef struct gram_prov {
    const char *name, *suffix, *cities, *pinyin;
} gram_prov;

static const gram_prov GRAM_PROVS[] = {
    {"北京", "市", "北京", "bj"},
    {"上海", "市", "上海", "sh"},
    {"天津", "市", "天津", "tj"},
    {"重庆", "市", "重庆", "cq"},
    {"广东", "省", "广州 深圳 珠海 佛山 东莞 汕头 惠州 江门", "gd"},
    {"浙江", "省", "杭州 宁波 温州 绍兴 金华 嘉兴 台州", "zj"},
    {"江苏", "省", "南京 苏州 无锡 常州 南通 扬州 徐州 镇江", "js"},
    {"山东", "省", "济南 青岛 烟台 潍坊 淄博 威海", "sd"},
    {"四川", "省", "成都 绵阳 德阳 宜宾 南充", "sc"},
    {"湖北", "省", "武汉 宜昌 襄阳 荆州", "hb"},
    {"湖南", "省", "长沙 株洲 湘潭 衡阳", "hn"},
    {"河南", "省", "郑州 洛阳 新乡 开封", "ha"},
    {"河北", "省", "石家庄 保定 唐山 廊坊", "he"},
    {"陕西", "省", "西安 宝鸡 咸阳 榆林", "sn"},
    {"安徽", "省", "合肥 芜湖 蚌埠 马鞍山", "ah"},
    {"福建", "省", "福州 厦门 泉州 漳州", "fj"},
    {"黑龙江", "省", "哈尔滨 大庆 齐齐哈尔", "hl"},
    {"辽宁", "省", "沈阳 大连 鞍山", "ln"},
    {"吉林", "省", "长春 吉林", "jl"},
    {"江西", "省", "南昌 赣州 九江", "jx"},
    {"广西", "壮族自治区", "南宁 桂林 柳州", "gx"},
    {"云南", "省", "昆明 曲靖 玉溪", "yn"},
    {"贵州", "省", "贵阳 遵义", "gz"},
    {"山西", "省", "太原 大同", "sx"},
    {"内蒙古", "自治区", "呼和浩特 包头", "nm"},
    {"甘肃", "省", "兰州 天水", "gs"},
    {"新疆", "维吾尔自治区", "乌鲁木齐 克拉玛依", "xj"},
    {"海南", "省", "海口 三亚", "hi"},
    {"宁夏", "回族自治区", "银川", "nx"},
};

static const gram_row GRAMMAR[] = {
    /* ---- notice types: title, body ------------------------------------ */
    {"title.tender", "%3 {$purchaser}{$project}招标公告"},
    {"title.tender", "{$project}公开招标公告"},
    {"title.tender", "{$purchaser}关于{$project}的公开招标公告"},
    {"title.consult", "{$purchaser}{$project}竞争性磋商公告"},
    {"title.consult", "{$project}竞争性磋商采购公告"},
    {"title.negotiate", "{$purchaser}{$project}竞争性谈判公告"},
    {"title.inquiry", "{$purchaser}{$project}询价公告"},
    {"title.inquiry", "{$project}询价采购公告"},
    {"title.single", "{$purchaser}{$project}单一来源采购公示"},
    {"title.award", "%2 {$purchaser}{$project}中标（成交）结果公告"},
    {"title.award", "{$project}中标公告"},
    {"title.award", "{$project}成交结果公告"},
    {"title.contract", "{$project}合同公告"},
    {"title.contract", "{$purchaser}{$project}政府采购合同公告"},
    {"title.correct", "{$purchaser}{$project}更正公告"},
    {"title.correct", "关于{$project}的更正公告（第{#int 1 3}次）"},
    {"title.terminate", "{$project}终止公告"},
    {"title.terminate", "{$purchaser}{$project}废标公告"},
    {"title.intent", "{$purchaser}{#year}年{#int 1 12}月政府采购意向"},

    {"doc.tender",
     "项目概况\n{$project}招标项目的潜在投标人应在{platform}获取招标文件，并于{#datetime "
     "deadline}（北京时间）前递交投标文件。\n"
     "一、项目基本情况\n项目编号：{$pno}\n项目名称：{$project}\n采购方式：公开招标\n"
     "预算金额：{#money budget}\n最高限价（如有）：{#money limit}\n采购需求：\n{#reqs}"
     "合同履行期限：{term}\n本项目{joint}接受联合体投标。\n"
     "二、申请人的资格要求：\n{qual}"
     "三、获取招标文件\n时间：{#date pub}至{#date sale_end}，每天上午9:00至11:30，下午14:00至"
     "17:00（北京时间，法定节假日除外）\n地点：{platform}\n方式：{get_way}\n售价：{fee}\n"
     "四、提交投标文件截止时间、开标时间和地点\n{#datetime deadline}（北京时间）\n"
     "地点：{$addr2}{room}\n五、公告期限\n自本公告发布之日起5个工作日。\n"
     "六、其他补充事宜\n{extra}{#mentions}"
     "七、对本次招标提出询问，请按以下方式联系。\n{contacts}"},
    {"doc.consult",
     "项目概况\n{$project}采购项目的潜在供应商应在{platform}获取采购文件，并于{#datetime "
     "deadline}（北京时间）前提交响应文件。\n"
     "一、项目基本情况\n项目编号：{$pno}\n项目名称：{$project}\n采购方式：竞争性磋商\n"
     "预算金额：{#money budget}\n采购需求：\n{#reqs}合同履行期限：{term}\n"
     "二、申请人的资格要求：\n{qual}"
     "三、获取采购文件\n时间：{#date pub}至{#date sale_end}\n地点：{platform}\n方式：{get_way}\n"
     "四、响应文件提交\n截止时间：{#datetime deadline}（北京时间）\n地点：{$addr2}{room}\n"
     "五、开启\n时间：{#datetime deadline}（北京时间）\n地点：{$addr2}{room}\n"
     "六、公告期限\n自本公告发布之日起3个工作日。\n七、其他补充事宜\n{extra}{#mentions}"
     "八、凡对本次采购提出询问，请按以下方式联系。\n{contacts}"},
    {"doc.negotiate",
     "一、项目基本情况\n项目编号：{$pno}\n项目名称：{$project}\n采购方式：竞争性谈判\n"
     "预算金额：{#money budget}\n采购需求：\n{#reqs}合同履行期限：{term}\n"
     "二、申请人的资格要求：\n{qual}"
     "三、获取采购文件\n时间：{#date pub}至{#date sale_end}\n地点：{platform}\n"
     "四、响应文件提交\n截止时间：{#datetime deadline}（北京时间）\n地点：{$addr2}{room}\n"
     "五、其他补充事宜\n{extra}{#mentions}六、联系方式\n{contacts}"},
    {"doc.inquiry",
     "一、项目基本情况\n项目编号：{$pno}\n项目名称：{$project}\n采购方式：询价\n"
     "预算金额：{#money budget}\n采购需求：\n{#reqs}交货期：{term}\n交货地点：采购人指定地点\n"
     "二、供应商资格要求：\n{qual}"
     "三、报价要求\n报价须包含货物、运输、安装调试、培训及{#int 1 5}年原厂质保等全部费用，"
     "报价超过预算金额的作无效响应处理。\n"
     "四、响应文件提交截止时间：{#datetime deadline}（北京时间）\n"
     "五、其他补充事宜\n{extra}{#mentions}六、联系方式\n{contacts}"},
    {"doc.single", "一、项目信息\n采购人：{$purchaser}\n项目名称：{$project}\n项目编号：{$pno}\n"
                   "拟采购的货物或服务的说明：\n{#reqs}"
                   "拟采购的货物或服务的预算金额：{#money budget}\n"
                   "采用单一来源采购方式的原因及相关说明：{single_reason}\n"
                   "二、拟定的唯一供应商名称、地址\n{$supplier}，{$addr3}\n"
                   "三、公示期限\n{#date pub}至{#date sale_end}\n"
                   "四、其他补充事宜\n{extra}{#mentions}五、联系方式\n{contacts}"},
    {"doc.award",
     "一、项目编号：{$pno}\n二、项目名称：{$project}\n三、中标（成交）信息\n"
     "供应商名称：{$supplier}\n供应商地址：{$addr3}\n中标（成交）金额：{#money bid}\n"
     "四、主要标的信息\n{#reqs}"
     "五、评审专家（单一来源采购人员）名单：\n{experts}\n"
     "六、代理服务收费标准及金额：\n参照原国家计委计价格〔2002〕1980号文件标准收取，"
     "代理服务费：{#money fee}\n"
     "七、公告期限\n自本公告发布之日起1个工作日。\n八、其他补充事宜\n{extra}{#mentions}"
     "九、凡对本次公告内容提出询问，请按以下方式联系。\n{contacts}"},
    {"doc.contract",
     "一、合同编号：{$pno}-HT{#int 1 9}\n二、合同名称：{$project}采购合同\n"
     "三、项目编号：{$pno}\n四、项目名称：{$project}\n五、合同主体\n采购人（甲方）：{$purchaser}\n"
     "地址：{$addr1}\n联系方式：{$person1}，{$phone1}\n供应商（乙方）：{$supplier}\n"
     "地址：{$addr3}\n联系方式：{person}，{#mobile}\n"
     "六、合同主要信息\n主要标的名称：{$project}\n规格型号（或服务要求）：\n{#reqs}"
     "合同金额：{#money bid}（{#capmoney}）\n履约期限、地点等简要信息：{term}，{$addr1}\n"
     "采购方式：{method}\n七、合同签订日期：{#date sign}\n八、合同公告日期：{#date pub}\n"
     "九、其他补充事宜\n{extra}{#mentions}"},
    {"doc.correct",
     "一、项目基本情况\n原公告的采购项目编号：{$pno}\n原公告的采购项目名称：{$project}\n"
     "首次公告日期：{#date first}\n二、更正信息\n更正事项：{correct_what}\n更正内容：\n"
     "{correct_body}{#reqs}更正日期：{#date pub}\n三、其他补充事宜\n{extra}{#mentions}"
     "四、凡对本次公告提出询问，请按以下方式联系。\n{contacts}"},
    {"doc.terminate",
     "一、项目基本情况\n采购项目编号：{$pno}\n采购项目名称：{$project}\n"
     "二、项目终止的原因\n{terminate_reason}\n原采购需求：\n{#reqs}"
     "三、其他补充事宜\n{extra}{#mentions}四、凡对本次公告内容提出询问，请按以下方式联系。\n"
     "{contacts}"},
    {"doc.intent",
     "为便于供应商及时了解政府采购信息，根据《财政部关于开展政府采购意向公开工作的通知》"
     "（财库〔2020〕10号）等有关规定，现将{$purchaser}{#year}年采购意向公开如下：\n"
     "采购项目名称：{$project}\n采购需求概况：\n{#reqs}预算金额：{#money budget}\n"
     "预计采购时间：{#year}年{#int 1 12}月\n备注：{extra}{#mentions}"
     "本次公开的采购意向是本单位政府采购工作的初步安排，具体采购项目情况以相关采购公告和采购"
     "文件为准。\n{$purchaser}\n{#date pub}\n"},

    /* ---- the page around a notice (--format html) ------------------------ */
    {"html.nav", "|首页 > 政府采购 > 采购公告|当前位置：首页 > 交易信息 > 政府采购|"
                 "您现在的位置：首页 > 信息公开 > 采购公告|{$prov}政府采购网 > 公告信息"},
    {"html.footer", "主办单位：{$prov}{$prov_sfx}财政厅　承办：{$prov}{$prov_sfx}政府采购中心\n"
                    "网站标识码：{#int 1000000000 1999999999}　建议使用1280×800以上分辨率浏览"},
    {"html.footer", "版权所有：{platform}\n技术支持：{company_f}　联系电话：{#phone}"},

    /* ---- shared sections --------------------------------------------- */
    {"contacts",
     "1.采购人信息\n名称：{$purchaser}\n地址：{$addr1}\n联系方式：{$person1}，{$phone1}\n"
     "2.采购代理机构信息\n名称：{$agency}\n地址：{$addr2}\n联系方式：{$person2}，{$phone2}\n"
     "3.项目联系方式\n项目联系人：{$person2}\n电话：{$phone2}\n"},
    {"contacts",
     "采购人：{$purchaser}\n地址：{$addr1}\n联系人：{$person1}\n联系电话：{$phone1}\n"
     "采购代理机构：{$agency}\n地址：{$addr2}\n联系人：{$person2}\n联系电话：{$phone2}\n"},
    {"qual", "1.满足《中华人民共和国政府采购法》第二十二条规定；\n"
             "2.落实政府采购政策需满足的资格要求：{policy}\n3.本项目的特定资格要求：{special}\n"},
    {"qual",
     "1.具有独立承担民事责任的能力；\n2.具有良好的商业信誉和健全的财务会计制度；\n"
     "3.具有履行合同所必需的设备和专业技术能力；\n4.有依法缴纳税收和社会保障资金的良好记录；\n"
     "5.参加政府采购活动前三年内，在经营活动中没有重大违法记录；\n6.{special}\n"},
    {"policy", "|本项目专门面向中小企业采购。|无。|本项目非专门面向中小企业采购，对小微企业报价给予"
               "10%的扣除。|执行节能产品、环境标志产品政府采购政策。"},
    {"special", "|无。|投标人须为所投产品制造商或其授权的代理商，并提供授权书。|"
                "供应商未被列入“信用中国”网站失信被执行人名单。|"
                "投标人须具有信息系统集成及服务资质（二级及以上）。|"
                "投标人须具备ISO9001质量管理体系认证。"},
    {"joint", "|不|"},
    {"term", "|合同签订后{#int 15 90}日内完成供货、安装及调试|自合同签订之日起{#int 30 180}"
             "日内交货并验收合格|服务期{#int 1 3}年|合同签订后{#int 7 45}个工作日内交付使用"},
    {"get_way", "|网上获取|现场获取或邮件获取|通过电子交易平台在线获取"},
    {"fee", "|0元|¥{#int 2 6}00元|免费"},
    {"room", "|{#int 1 9}楼开标室|第{#int 1 6}会议室|{#int 2 20}0{#int 1 9}室|开标一室"},
    {"method", "|公开招标|竞争性磋商|询价|单一来源|竞争性谈判"},
    {"extra", "|无。\n|本项目采用电子化招投标，投标人须办理CA数字证书。\n"
              "|请供应商于获取文件截止前完成网上注册。\n"
              "|本项目所投产品须为原厂全新正品，提供原厂质保服务承诺函。\n"
              "|本项目不接受进口产品。\n|本项目允许采购进口产品，已经财政部门审核同意。\n"
              "|中标供应商须在签订合同后提供原厂授权及供货证明。\n"},
    {"experts", "|{surname}{given}、{surname}{given}、{surname}{given}、{surname}{given}、{surname}"
                "{given}（采购人代表）|{surname}{given}、{surname}{given}、{surname}{given}"},
    {"single_reason",
     "|本项目为原有{old_system}的扩容，为保证与原有系统兼容及配套，只能从原供应商处采购。"
     "|该供应商为国内唯一具备相关技术能力和服务能力的单位，经专家论证，采用单一来源方式采购。"},
    {"old_system", "|高性能计算平台|存储系统|计算集群|数据中心网络"},
    {"correct_what", "|采购文件|采购公告|采购文件、采购公告"},
    {"correct_body", "|投标截止时间及开标时间变更为：{#datetime deadline}（北京时间）。\n"
                     "|采购需求中技术参数调整如下：\n|预算金额更正为：{#money budget}。\n"},
    {"terminate_reason",
     "|因采购需求发生变化，本项目终止。|因有效投标人不足三家，本项目废标。"
     "|因出现影响采购公正的违法、违规行为，本项目终止。|因预算调整，本项目终止采购。"},

    /* ---- requirement lines (filler) ----------------------------------- */
    {"req", "%4 {#n}. {srv_item}：{srv_spec}，数量：{#int 1 40}台；\n"},
    {"req", "%2 {#n}、{srv_item}（{srv_spec}）×{#int 1 16}台\n"},
    {"req", "%2 {#n}. {net_item}：{net_spec}，数量：{#int 1 20}台；\n"},
    {"req", "%2 {#n}. {cloud_item}：{cloud_spec}，服务期{#int 1 36}个月；\n"},
    {"req", "{#n}.{infra_item}，{infra_spec}，{#int 1 10}套。\n"},
    {"req", "{#n}. {sto_item}：{sto_spec}，数量：{#int 1 8}套；\n"},
    {"req", "{#n}. {sw_item}：{sw_spec}，{#int 1 500}个授权；\n"},
    {"item", "|GPU服务器|高性能计算服务器|深度学习训练服务器|AI推理服务器|计算节点|机架式服务器|"
             "GPU工作站"},
    {"srv_item", "|GPU服务器|高性能计算服务器|深度学习训练服务器|AI推理服务器|计算节点|管理节点|"
                 "登录节点|机架式服务器|刀片服务器|胖节点服务器"},
    {"srv_spec", "%3 CPU：{cpu}×2，内存≥{mem}GB，GPU：{gpu_f}×{#int 2 8}，系统盘：2×960GB SSD"},
    {"srv_spec",
     "%2 2U机架式，CPU：{cpu}，内存：{mem}GB DDR4，硬盘：{#int 2 12}×{disk}，网络：{net}"},
    {"srv_spec", "4U机架式，支持{#int 4 10}块双宽GPU卡，配置{gpu_f}×{#int 4 8}，电源：2+2冗余"},
    {"srv_spec", "CPU：{cpu}×2，内存{mem}GB，{#int 2 4}×{disk}，含{#int 3 5}年原厂质保"},
    {"net_item", "|InfiniBand交换机|万兆以太网交换机|核心交换机|汇聚交换机|下一代防火墙|"
                 "负载均衡设备|堡垒机"},
    {"net_spec", "|{#int 24 48}口，{net}，支持RDMA|{#int 24 48}个万兆光口，{#int 2 8}个40G上联口|"
                 "吞吐量≥{#int 10 80}Gbps，含{#int 1 3}年特征库升级|双电源，支持IPv6"},
    {"cloud_item", "|云主机|GPU云主机|对象存储服务|云数据库服务|负载均衡服务|云安全服务|"
                   "云桌面|容器服务|等保测评服务"},
    {"cloud_spec", "|{#int 8 64}核{#int 32 512}GB，按年租用|GPU：{gpu_f}×{#int 1 8}，按需计费|"
                   "容量{#int 10 500}TB，三副本冗余|{#int 2 16}核{#int 8 64}GB，主备高可用|"
                   "满足国家网络安全等级保护三级要求|{#int 50 2000}个并发用户"},
    {"infra_item", "|液冷机柜|精密空调|不间断电源|配电列头柜|冷通道封闭系统|动环监控系统"},
    {"infra_spec", "|{#int 10 200}kVA，后备时间≥30分钟|制冷量≥{#int 25 100}kW|"
                   "单机柜功率≥{#int 20 60}kW|含安装、调试及{#int 1 5}年原厂质保"},
    {"sto_item", "|并行存储系统|分布式存储|全闪存存储|备份一体机|NAS存储"},
    {"sto_spec", "|可用容量≥{#int 100 900}TB，{net}接口|裸容量{#int 200 2000}TB，{disk}|"
                 "聚合带宽≥{#int 20 200}GB/s，支持POSIX接口|{#int 2 8}控制器，缓存≥{mem}GB"},
    {"sw_item", "|集群管理软件|作业调度系统|深度学习开发平台|数据库软件|操作系统|杀毒软件"},
    {"sw_spec", "|支持Slurm作业调度，永久授权|支持多租户及资源配额管理|国产化适配，含{#int 1 3}年"
                "升级服务|支持容器化部署"},
    {"cpu", "|至强金牌6348|至强铂金8358|至强银牌4314|海光7285|鲲鹏920|EPYC 7763|飞腾S2500|"
            "至强金牌6430|EPYC 9654"},
    {"mem", "|256|512|768|1024|2048"},
    {"disk", "|3.84TB NVMe SSD|1.92TB SATA SSD|16TB SATA HDD|8TB SAS HDD"},
    {"net", "|2×100Gb/s InfiniBand HDR|2×25GbE|4×10GbE SFP+|200Gb/s HDR InfiniBand|"
            "2×200GbE RoCE"},
    {"gpu_f", "|V100 32GB|T4 16GB|A10 24GB|A30 24GB|A40 48GB|RTX A6000 48GB|RTX 3090 24GB|"
              "P100 16GB|L4 24GB|RTX A4000|RTX A1000|通用GPU加速卡（显存≥48GB）|"
              "国产GPU加速卡|推理加速卡（INT8算力≥200TOPS）|T1000 8GB|RTX 3080 10GB"},

    /* ---- plant carriers: #plant is the watch-list name --------------- */
    {"plant.chip", "%3 {#n}. GPU加速卡：{#plant}，数量：{#int 2 64}块；\n"},
    {"plant.chip", "%2 {#n}. {item}：配置{#int 2 8}块{#plant}，内存≥{mem}GB；\n"},
    {"plant.chip", "{#n}、算力服务器（{#plant}×{#int 4 8}）×{#int 1 16}台\n"},
    {"plant.chip", "{#n}. 加速卡型号：{#plant}或同等性能产品，{#int 1 32}块；\n"},
    {"plant.chip", "{#n}.{item}，GPU：{#plant}×8，{#int 1 10}台。\n"},
    {"plant.cloud", "%2 {#n}. 云服务资源：{#plant}，租期{#int 1 3}年；\n"},
    {"plant.cloud", "{#n}. {item}：基于{#plant}公有云平台提供，{#int 1 12}个月；\n"},
    {"plant.cloud", "{#n}、云资源租赁（服务商：{#plant}）×1项\n"},
    {"plant.mention", "本项目用户单位为{#plant}。\n"},
    {"plant.mention", "联合建设单位：{#plant}。\n"},
    {"plant.mention", "相关单位：{#plant}。\n"},
    {"plant.mention.chip", "本项目采购的{#plant}须提供原厂授权及质保承诺函。\n"},
    {"plant.mention.chip", "现有集群配置{#plant}加速卡，本次扩容须与现有设备兼容。\n"},
    {"plant.mention.cloud", "现有业务系统部署于{#plant}，乙方负责迁移及运维。\n"},
    {"plant.mention.cloud", "供应商须提供{#plant}服务商出具的授权文件。\n"},
    {"plant.mention.university", "本项目用户单位为{#plant}。\n"},
    {"plant.mention.university", "本项目为与{#plant}的合作科研项目。\n"},
    {"plant.mention.lab", "项目技术支撑单位：{#plant}。\n"},
    {"plant.mention.lab", "本项目设备将部署于{#plant}。\n"},
    {"plant.mention.company", "投标人须提供{#plant}出具的产品授权书。\n"},
    {"plant.mention.company", "中标候选人：第一名，{#plant}；第二名，{supplier_f}。\n"},
    {"plant.mention.intermediary", "本项目进口设备委托{#plant}办理进口手续。\n"},
    {"plant.mention.intermediary", "进口代理机构：{#plant}。\n"},

    /* ---- organizations (filler) --------------------------------------- */
    {"purchaser", "%3 {univ_f}"},
    {"purchaser", "%2 {$city}市第{cn_ord}人民医院"},
    {"purchaser", "{$city}市中医院"},
    {"purchaser", "%2 {$prov}{$prov_sfx}{gov_prov}"},
    {"purchaser", "%2 {$city}市{gov_city}"},
    {"purchaser", "{$city}职业技术学院"},
    {"purchaser", "{$city}市第{cn_ord}中学"},
    {"purchaser", "%2 {lab_f}"},
    {"purchaser", "{company_f}"},
    {"univ_f", "|复旦大学|南京大学|武汉大学|华中科技大学|中南大学|四川大学|吉林大学|厦门大学|"
               "南开大学|天津大学|同济大学|东南大学|大连理工大学|华南理工大学|重庆大学|兰州大学|"
               "湖南大学|东北大学|郑州大学|苏州大学|南方科技大学|上海科技大学|华东师范大学|"
               "北京师范大学|中国人民大学|北京交通大学|北京邮电大学|西安交通大学|江南大学|暨南大学|"
               "宁波大学|广西大学|云南大学|贵州大学|南昌大学|合肥工业大学|河海大学|福州大学|"
               "浙江工业大学|中国农业大学|华中农业大学|东华大学|长安大学|中国海洋大学|西南大学"},
    {"lab_f", "|中国科学院物理研究所|中国科学院半导体研究所|中国科学院声学研究所|"
              "中国科学院大气物理研究所|中国科学院高能物理研究所|中国科学院微电子研究所|"
              "中国科学院过程工程研究所|中国气象局气象探测中心|国家气象信息中心|"
              "中国地质调查局发展研究中心|中国疾病预防控制中心|中国医学科学院|"
              "{$prov}{$prov_sfx}{field}重点实验室|{$city}市{field}研究院"},
    {"field", "|智能计算|大数据|网络空间安全|先进制造|生物医药|新材料|智慧交通|遥感信息|"
              "量子信息|海洋信息"},
    {"gov_prov", "|教育厅|科学技术厅|公安厅|气象局|大数据管理局|卫生健康委员会|自然资源厅|"
                 "生态环境厅|交通运输厅|统计局|政务服务和数据管理局"},
    {"gov_city", "|公安局|教育局|数据资源管理局|气象局|疾病预防控制中心|档案馆|图书馆|"
                 "政务服务数据管理局|交通运输局|城市管理局|人民检察院|中级人民法院"},
    {"cn_ord", "|一|二|三|四|五|六|七|八|九"},
    {"company_f", "%3 {$city}{core_f}{industry}{corp}"},
    {"company_f", "{$prov}{core_f}{industry}{corp}"},
    {"supplier_f", "%3 {$city}{core_f}{industry}{corp}"},
    {"supplier_f", "{$prov}{core_f}{industry}{corp}"},
    {"supplier_f", "{core_f}{industry}（{$city}）{corp}"},
    {"core_f", "|恒远|泰和|中盛|鼎新|汇通|瑞联|博远|宏达|金桥|天成|嘉禾|明德|同创|广信|中科恒|"
               "新源|华拓|正元|长风|华宇|思源|卓越|东方汇|海纳|智联|盈创|鼎盛|锦程|欣荣|拓维|"
               "万联|信诚|恒泰|讯达|中软汇|安信|嘉誉|普惠|天宏|先锋"},
    {"industry", "|信息技术|计算机系统|网络科技|数据科技|电子科技|智能科技|系统集成|通信技术|"
                 "软件技术|数码科技|信息系统"},
    {"corp", "|有限公司|有限公司|有限公司|股份有限公司|有限责任公司"},
    {"agency", "%3 {$prov}{core_f}招标代理有限公司"},
    {"agency", "%2 {$city}{core_f}工程咨询有限公司"},
    {"agency", "{$city}{core_f}项目管理有限公司"},
    {"agency", "%2 {$prov}{$prov_sfx}政府采购中心"},
    {"agency", "%2 {$city}市公共资源交易中心"},
    {"agency", "{$city}市政府采购中心"},
    {"platform", "|中国政府采购网|{$prov}政府采购网|{$city}市公共资源交易平台|"
                 "{$prov}{$prov_sfx}政府采购电子卖场|全国公共资源交易平台（{$prov}{$prov_sfx}）"},

    /* ---- projects ------------------------------------------------------ */
    {"project.compute", "|高性能计算平台建设项目|GPU服务器采购项目|人工智能算力平台采购项目|"
                        "智能计算中心（一期）建设项目|深度学习训练服务器采购|科研计算集群扩容项目|"
                        "大模型训练算力租赁服务项目|超算中心存储扩容项目|"
                        "校级公共计算平台升级改造项目|AI推理服务器采购项目|图形工作站采购项目|"
                        "算力服务采购项目|{field}计算平台建设项目"},
    {"project.cloud", "|政务云服务采购项目|云计算资源租赁服务项目|云服务器及云存储服务采购项目|"
                      "混合云平台建设项目|云桌面系统采购项目|数据中心上云迁移服务项目|"
                      "信息系统云上部署服务项目|{#year}年度公有云资源租赁项目"},
    {"project.it", "|网络安全设备采购项目|核心交换机更新项目|数据中心机房改造项目|"
                   "信息化设备采购项目|办公计算机采购项目|存储设备采购项目|智慧校园平台建设项目|"
                   "数据治理平台建设项目|视频监控系统升级项目|不间断电源（UPS）采购项目|"
                   "{#year}年信息化运维服务项目|{field}实验室设备采购项目"},

    /* ---- people, places ------------------------------------------------ */
    {"person", "%3 {surname}{title}"},
    {"person", "{surname}{given}"},
    {"surname", "|王|李|张|刘|陈|杨|黄|赵|吴|周|徐|孙|马|朱|胡|郭|何|林|罗|高|郑|梁|谢|宋|唐|许|"
                "韩|冯|邓|曹|彭|曾|肖|田|董|袁|潘|于|蒋|蔡|余|杜|叶|程|苏|魏|吕|丁|任|沈"},
    {"given", "|伟|芳|娜|敏|静|丽|强|磊|军|洋|勇|艳|杰|娟|涛|明|超|秀兰|霞|平|刚|桂英|建华|"
              "志强|海燕|晓东|文斌|雪梅|国庆|婷婷"},
    {"title", "|老师|先生|女士|工|经理|科长|主任"},
    {"addr", "{$city}市{district}{road}{#int 1 999}号"},
    {"addr", "{$city}市{district}{road}{#int 1 399}号{bldg}"},
    {"district", "|高新区|经济技术开发区|新区|中心城区|东城区|西城区|南山区|滨江区|天河区|"
                 "雁塔区|武侯区|江北区|开福区|历下区|鼓楼区"},
    {"road", "|人民路|解放路|建设路|中山路|科技路|学府路|创新大道|长江路|文化路|科苑路|"
             "工业大道|高新大道|文昌路|新华路|和平路"},
    {"bldg", "|{#int 1 30}楼|{#int 1 9}号楼{#int 1 20}层|大厦{#int 1 28}楼|综合楼{#int 101 999}室"},
};

#endif
